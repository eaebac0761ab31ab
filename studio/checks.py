"""The one check for a number a user (or an API caller) gives: a whole number or a real in a range.

Every engine validates its arguments with these two, so a bad value reads the same everywhere (whatever is
wrong with it: not a number, not whole, out of range, NaN: the sentence says what is taken) and the Chinese
catalog holds one sentence per case. The range is written ``[lo, hi]``, or ``(lo, hi]`` when the low
end is excluded (a temperature of 0 divides by zero).
"""

from __future__ import annotations

import math

from studio.i18n import N_


def _is_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and not (isinstance(value, float) and not math.isfinite(value)))


def _span(lo, hi, lo_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo}, {hi}]"


def whole_number(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an ``int`` (``3.0`` is 3), or ``ValueError`` naming ``name``, the range and the value."""
    if lo is None and hi is None:
        if not _is_number(value) or float(value) != int(value):
            raise ValueError(N_(f"{name} must be a whole number, got {value!r}."))
        return int(value)
    span = _span(lo, hi, False)
    if not _is_number(value) or float(value) != int(value) or not lo <= value <= hi:
        raise ValueError(N_(f"{name} must be a whole number in {span}, got {value!r}."))
    return int(value)


def number(name: str, value, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """``value`` as a ``float`` in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), or ``ValueError``."""
    span = _span(lo, hi, lo_open)
    if not _is_number(value) or not lo <= value <= hi or (lo_open and value == lo):
        raise ValueError(N_(f"{name} must be a number in {span}, got {value!r}."))
    return float(value)


def work(evaluations: int, images: int, positions: int, limit: int, lower: str) -> int:
    """The work one request asks for — model evaluations per image × images × positions (pixels or latent cells the
    network sees) — or ``ValueError`` saying what to lower when it is over ``limit`` (``STUDIO_MAX_WORK``): each
    control has its own bound, and this one bounds them together (steps × batch × size), so that one request
    cannot hold the machine for minutes while each of its settings is within range."""
    total = int(evaluations) * int(images) * int(positions)
    if total > limit:
        raise ValueError(N_(f"This asks for {total:,} units of work ({evaluations:,} model evaluations × {images:,} "
                            f"picture(s) × {positions:,} positions); this server takes at most {limit:,} per request "
                            f"(STUDIO_MAX_WORK). Lower {lower}."))
    return total
