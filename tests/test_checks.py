"""The one number check every engine uses (studio/checks.py)."""

import math

import pytest

from studio.checks import number, whole_number


@pytest.mark.parametrize("value, want", [(3, 3), (3.0, 3), (1, 1), (8, 8)])
def test_whole_number_in_range_comes_back_as_an_int(value, want):
    got = whole_number("n", value, 1, 8)
    assert got == want and type(got) is int


@pytest.mark.parametrize("value, message", [
    (9, r"^n must be a whole number in \[1, 8\], got 9\.$"),
    (0, r"^n must be a whole number in \[1, 8\], got 0\.$"),
    (2.5, r"^n must be a whole number in \[1, 8\], got 2\.5\.$"),
    ("3", r"^n must be a whole number in \[1, 8\], got '3'\.$"),
    (True, r"^n must be a whole number in \[1, 8\], got True\.$"),
    (None, r"^n must be a whole number in \[1, 8\], got None\.$"),
    (math.nan, r"^n must be a whole number in \[1, 8\], got nan\.$"),
    (math.inf, r"^n must be a whole number in \[1, 8\], got inf\.$"),
])
def test_whole_number_says_what_it_takes(value, message):
    with pytest.raises(ValueError, match=message):
        whole_number("n", value, 1, 8)


def test_whole_number_without_a_range():
    assert whole_number("index", -4) == -4
    with pytest.raises(ValueError, match=r"^index must be a whole number, got 1\.5\.$"):
        whole_number("index", 1.5)


def test_number_and_an_open_low_end():
    assert number("psi", 1, 0.0, 1.0) == 1.0 and type(number("psi", 1, 0.0, 1.0)) is float
    assert number("temperature", 5, 0, 5, lo_open=True) == 5.0
    with pytest.raises(ValueError, match=r"^temperature must be a number in \(0, 5\], got 0\.$"):
        number("temperature", 0, 0, 5, lo_open=True)
    for bad in (1.5, -0.1, math.nan, "0.5", None, False):
        with pytest.raises(ValueError, match=r"^psi must be a number in \[0\.0, 1\.0\], got "):
            number("psi", bad, 0.0, 1.0)
