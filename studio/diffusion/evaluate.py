"""The eval harness's diffusion figures: 1,000 class-conditional samples (100 per digit, seeds 0..999) at the
tab's default scheduler, steps and guidance, judged against the held-out digits (``judge_accuracy``,
``fd_ratio``; see studio.eval.sample_quality). With ``table=True`` (``python -m studio.eval diffusion --table``)
also every setting of the model card's table (``CARD_TABLE``), which the harness writes into eval.json and
the card."""

from __future__ import annotations

import torch

from studio.diffusion import engine
from studio.diffusion.engine import DEFAULTS  # the tab's defaults: the setting the quality floor is measured at
from studio.eval.sample_quality import balanced_labels, judge_figures

N_PER_CLASS = 100
# The card's table: the default, then fewer and more steps at the same guidance, a deterministic sampler, a
# fast solver at 10 steps, and two guidance scales (the diversity / fidelity trade). (scheduler, steps, w)
CARD_TABLE = [("Euler ancestral", 20, 1.0), ("Euler ancestral", 10, 1.0), ("Euler ancestral", 50, 1.0),
              ("DDIM", 50, 1.0), ("UniPC", 10, 1.0), ("Euler ancestral", 20, 1.25), ("DPM-Solver++ 2M", 20, 2.0)]
TABLE_HEADER = ("| scheduler | steps | model evaluations per image (NFE, guidance included) | guidance w "
                "| judge accuracy | FD ratio |")


# The spot figures (eval.json's "spot"): the first 10 samples of each digit of the default setting, judged alone,
# which a test re-measures in a tenth of the time to show the shipped figures are this model's.
SPOT_PER_CLASS = 10


@torch.inference_mode()
def samples(bundle, *, n_per_class: int = N_PER_CLASS, scheduler: str = DEFAULTS["scheduler"],
            steps: int = DEFAULTS["steps"], guidance: float = DEFAULTS["guidance"], chunk: int = 100,
            take: int | None = None):
    """(images (N, 1, 32, 32) in [-1, 1], labels (N,)): sample i asks for labels[i] and uses seed i. ``take``:
    only the first ``take`` samples of each digit (the same pictures: a picture depends only on its seed)."""
    labels = balanced_labels(n_per_class, bundle.num_classes)
    images, kept = [], []
    for start in range(0, len(labels), chunk):
        part = labels[start:start + chunk]
        for digit in part.unique(sorted=True):  # each run asks for one digit; seeds stay = sample index
            idx = (part == digit).nonzero().flatten()
            first = start + int(idx[0])
            assert idx.tolist() == list(range(int(idx[0]), int(idx[0]) + len(idx)))  # balanced_labels is grouped
            if take is not None:  # this digit's samples in earlier chunks count towards ``take``
                done = first - int((labels == digit).nonzero()[0])
                idx = idx[:max(0, take - done)]
                if not len(idx):
                    continue
            out = engine.run(bundle, seed=first, scheduler=scheduler, steps=steps, guidance=guidance,
                             digit=str(int(digit)), batch=len(idx), max_batch=len(idx))
            images.append(out.images)
            kept.append(start + idx)
    return torch.cat(images), labels[torch.cat(kept)]


def spot_of(images: torch.Tensor, labels: torch.Tensor, per_class: int = SPOT_PER_CLASS) -> torch.Tensor:
    """The indices of the first ``per_class`` samples of each digit."""
    return torch.cat([(labels == d).nonzero().flatten()[:per_class] for d in labels.unique(sorted=True)])


def spot_check(registry, key: str, *, data_dir=None, judge_key: str = "digit-judge") -> dict:
    """eval.json's ``spot`` figures measured alone: the default setting's first ``SPOT_PER_CLASS`` samples of each
    digit (the same seeds as in the full run)."""
    images, labels = samples(registry.get(key), take=SPOT_PER_CLASS)
    return _spot(judge_figures(registry.get(judge_key).model, images, labels, data_dir))


def _spot(figures: dict) -> dict:
    return {"judge_accuracy": figures["judge_accuracy"], "fd_ratio": figures["fd_ratio"],
            "samples": figures["n_samples"]}


def sample_figures(registry, key: str, *, scheduler: str, steps: int, guidance: float, data_dir=None,
                   judge_key: str = "digit-judge") -> dict:
    bundle = registry.get(key)
    if bundle.num_classes != 10 or bundle.in_channels != 1:
        raise ValueError(f"{key!r} is not a class-conditional MNIST model; the digit judge cannot rate it.")
    images, labels = samples(bundle, scheduler=scheduler, steps=steps, guidance=guidance)
    judge = registry.get(judge_key).model
    spot = spot_of(images, labels)
    return {**judge_figures(judge, images, labels, data_dir),
            "spot": _spot(judge_figures(judge, images[spot], labels[spot], data_dir))}


def table_row(scheduler: str, steps: int, guidance: float, figures: dict) -> dict:
    return {"scheduler": scheduler, "steps": steps, "nfe": engine.nfe(scheduler, steps, guidance), "guidance": guidance,
            "judge_accuracy": figures["judge_accuracy"], "fd_ratio": round(figures["fd_ratio"], 3)}


def markdown_table(rows: list[dict]) -> str:
    """The card's table (header, rule, one line per row of eval.json's ``table``)."""
    lines = [TABLE_HEADER, "|---|---|---|---|---|---|"]
    lines += [f"| {r['scheduler']} | {r['steps']} | {r['nfe']} | {r['guidance']:g} | {r['judge_accuracy']:.1%} | "
              f"{r['fd_ratio']:.2f} |" for r in rows]
    return "\n".join(lines)


def write_card_table(folder, rows: list[dict]) -> None:
    """Replace the settings table in ``folder``/README.md with ``rows``."""
    from pathlib import Path

    card = Path(folder) / "README.md"
    text = card.read_text()
    start = text.index(TABLE_HEADER)
    end = text.find("\n\n", start)
    card.write_text(text[:start] + markdown_table(rows) + (text[end:] if end >= 0 else "\n"))


def evaluate_checkpoint(registry, key: str, *, data_dir=None, judge_key="digit-judge", table: bool = False) -> dict:
    f = sample_figures(registry, key, data_dir=data_dir, judge_key=judge_key, **DEFAULTS)
    out = {"judge_accuracy": f["judge_accuracy"], "fd_ratio": f["fd_ratio"], "spot": f["spot"],
           "settings": {"samples": f["n_samples"], "per_class": N_PER_CLASS, "seeds": "0..999 (sample i uses seed i)",
                        **DEFAULTS, "fd": f["fd"], "fd_reference": f["fd_reference"]}}
    if table:
        rows = []
        for scheduler, steps, w in CARD_TABLE:
            if (scheduler, steps, w) == (DEFAULTS["scheduler"], DEFAULTS["steps"], DEFAULTS["guidance"]):
                g = f  # the default setting, measured above
            else:
                g = sample_figures(registry, key, scheduler=scheduler, steps=steps, guidance=w, data_dir=data_dir,
                                   judge_key=judge_key)
            rows.append(table_row(scheduler, steps, w, g))
        out["table"] = rows
    return out
