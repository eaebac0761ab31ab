"""The eval harness on the shipped judge and the real data (the MNIST split in the repository's data/ folder)."""

import json
import subprocess
import sys

import pytest
import torch

from studio.catalog import builtin_specs
from studio.config import REPO_ROOT
from studio.data import load_mnist
from studio.eval.sample_quality import balanced_labels, judge_figures
from studio.registry import ModelRegistry

CHECKPOINTS = REPO_ROOT / "checkpoints"


@pytest.fixture(scope="module")
def judge():
    reg = ModelRegistry(builtin_specs(CHECKPOINTS), device="cpu")
    return reg.get("digit-judge").model


def test_shipped_judge_meets_its_floor(judge):
    x, y = load_mnist("heldout")
    pred, conf, feats = judge.judge(x)
    assert (pred == y).float().mean().item() >= 0.985
    assert feats.shape == (1000, 128) and ((conf > 0) & (conf <= 1)).all()


def test_judge_figures_real_digits_are_close_noise_is_far(judge):
    x, y = load_mnist("train")
    real = judge_figures(judge, x[1000:2000], y[1000:2000])  # real digits the reference did not use
    assert real["judge_accuracy"] >= 0.98
    assert 0.7 <= real["fd_ratio"] <= 1.4
    noise = judge_figures(judge, torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                          balanced_labels(100))
    assert noise["judge_accuracy"] < 0.3 and noise["fd_ratio"] > 50
    # The same digits in the diffusion model's convention ([-1, 1], padded to 32x32) score the same.
    padded = torch.nn.functional.pad(x[1000:2000] * 2 - 1, (2, 2, 2, 2), value=-1.0)
    assert judge_figures(judge, padded, y[1000:2000]) == real


def test_balanced_labels():
    labels = balanced_labels(3)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9]


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "studio.eval", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr  # stdout is exactly one JSON object


def test_cli_judge_json_is_deterministic_and_clean():
    first, _ = run_cli("judge", "--json", "--no-write")
    second, _ = run_cli("judge", "--json", "--no-write")
    assert set(first) == {"digit-judge"}
    entry = first["digit-judge"]
    assert entry["family"] == "judge" and entry["heldout_accuracy"] >= 0.985
    strip = lambda d: {k: {kk: vv for kk, vv in v.items() if kk != "eval_seconds"} for k, v in d.items()}  # noqa: E731
    assert strip(first) == strip(second)
    shipped = json.loads((CHECKPOINTS / "digit-judge" / "eval.json").read_text())
    assert shipped["heldout_accuracy"] == entry["heldout_accuracy"]  # the shipped figure is current


def test_cli_names_what_is_missing(tmp_path):
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    result, stderr = run_cli("text", "--json", "--checkpoints", str(empty))
    assert result == {}
    assert "missing: text: no built-in checkpoint (train one with python -m studio.text.train)" in stderr


def test_models_tab_shows_the_measured_figures():
    from studio.ui.models_tab import COLUMNS, status_table

    reg = ModelRegistry(builtin_specs(CHECKPOINTS), device="cpu")
    row = dict(zip(COLUMNS, next(r for r in status_table(reg) if r[0] == "digit-judge")))
    shipped = json.loads((CHECKPOINTS / "digit-judge" / "eval.json").read_text())["heldout_accuracy"]
    assert row["quality"] == f"held-out accuracy {shipped:.2%}"
    assert row["origin"] == "built-in" and row["loaded"] == "no" and row["params (M)"] > 0


def test_the_readmes_fd_sanity_figures_come_from_their_command():
    import re

    out = subprocess.run([sys.executable, "benchmarks/fd_sanity.py"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    got = {m[0]: float(m[1]) for m in re.findall(r"^RESULT fd_ratio_(\w+) ([\d.]+)$", out.stdout, re.M)}
    readme = (REPO_ROOT / "README.md").read_text()
    line = readme[readme.index("As a check of the figures"):][:300]
    assert f"`fd_ratio` {got['real']:.2f}" in line and f"blurred (3×3 box) {got['blurred']:.2f}" in line
    assert f"uniform noise {got['noise']:.0f}" in line
    assert got["real"] < 1.2 < 3 < got["blurred"] < 100 < got["noise"]  # the ratio orders them as it should
