"""Runs each family's evaluation on every built-in checkpoint of that family.

Each family provides ``evaluate_checkpoint(registry, key, *, data_dir, judge_key) -> dict`` in the module
named below; a family whose module or checkpoint does not exist yet is reported as missing.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from pathlib import Path

from studio.data import default_data_dir, load_mnist
from studio.eval.metrics import label_accuracy

log = logging.getLogger("studio.eval")

EVALUATORS = {
    "text": "studio.text.evaluate",
    "vae": "studio.vae.evaluate",
    "gan": "studio.gan.evaluate",
    "diffusion": "studio.diffusion.evaluate",
    "t2i": "studio.diffusion.text_to_image.evaluate",
    "judge": "studio.eval.runner",
}
TRAIN_COMMANDS = {
    "text": "python -m studio.text.train",
    "vae": "python -m studio.vae.train",
    "gan": "python -m studio.gan.train",
    "diffusion": "python -m studio.diffusion.train",
    "t2i": "python -m studio.diffusion.text_to_image.train",
    "judge": "python -m studio.eval.train_judge",
}
JUDGE_KEY = "digit-judge"


def evaluate_checkpoint(registry, key: str, *, data_dir=None, judge_key=None) -> dict:
    """The judge's own figure: accuracy on the 1,000 held-out MNIST digits."""
    x, y = load_mnist("heldout", data_dir)
    pred, _, _ = registry.get(key).model.judge(x)
    return {"heldout_accuracy": round(label_accuracy(pred, y), 4),
            "settings": {"data": "MNIST images 9000..9999", "n_images": len(y)}}


def find_evaluator(family: str):
    module_name = EVALUATORS[family]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            return None
        raise
    return getattr(module, "evaluate_checkpoint", None)


def run(families, registry, *, data_dir=None, write: bool = True, table: bool = False) -> tuple[dict, list[str]]:
    """Evaluate every built-in checkpoint of ``families``. Returns (results by key, what is missing).

    ``table``: also re-measure each diffusion checkpoint's card table of settings (its evaluator's ``table``);
    with ``write`` the table goes into eval.json and the card's README.md."""
    data_dir = str(data_dir or default_data_dir())
    results, missing = {}, []
    for family in families:
        keys = [s.key for s in registry.specs(family) if s.builtin]
        evaluator = find_evaluator(family)
        if evaluator is None:
            missing.append(f"{family}: no evaluator yet (module {EVALUATORS[family]} does not exist)")
            continue
        if not keys:
            missing.append(f"{family}: no built-in checkpoint (train one with {TRAIN_COMMANDS[family]})")
            continue
        for key in keys:
            log.info("evaluating %s (%s)...", key, family)
            start = time.perf_counter()
            extra = {"table": True} if table and family == "diffusion" else {}
            figures = evaluator(registry, key, data_dir=data_dir, judge_key=JUDGE_KEY, **extra)
            seconds = time.perf_counter() - start
            entry = {"family": family, **figures, "device": str(registry.device),
                     "eval_seconds": round(seconds, 1)}
            results[key] = entry
            log.info("%s: %s (%.1f s)", key, {k: v for k, v in figures.items() if k != "settings"}, seconds)
            if write:
                folder = Path(registry.spec(key).source)
                path = folder / "eval.json"
                # keep what the training script's report added (e.g. the diffusion card's table of settings)
                earlier = json.loads(path.read_text()) if path.is_file() else {}
                path.write_text(json.dumps({**earlier, **entry}, indent=2) + "\n")
                if "table" in entry:
                    importlib.import_module(EVALUATORS[family]).write_card_table(folder, entry["table"])
                if family == "text" and entry.get("settings", {}).get("corpus") == "tang":
                    from studio.text.poems import write_card_figures

                    write_card_figures(folder, entry)
    return results, missing
