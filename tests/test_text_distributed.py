"""The text training command under torchrun: two CPU processes (gloo, DistributedDataParallel) train exactly as
one process does on the same global batch.

Each process draws the same global batch and trains on its half; DDP averages the two halves' gradients, which is
the whole batch's gradient. So the losses of every step (all-reduced over the processes) and the final weights
equal the one-process run's, up to float summation order. Dropout is 0: its masks are random per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import free_port, write_tiny_tang_corpus

pytestmark = pytest.mark.slow

TINY = ["--corpus", "tang", "--min-char-count", "1", "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
        "--block-size", "32", "--batch-size", "8", "--dropout", "0", "--warmup", "2", "--eval-every", "100",
        "--steps", "6", "--lr", "3e-3", "--device", "cpu"]


def run(args, out, data):
    env = dict(os.environ, OMP_NUM_THREADS="1", STUDIO_DATA=str(data), HF_HUB_OFFLINE="1")
    done = subprocess.run([*args, "-m", "studio.text.train", *TINY, "--out", str(out), "--rows-log", str(out / "rows")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "training_log.json").read_text()), json.loads((out / "phases.json").read_text())


def test_two_processes_train_as_one_on_the_same_global_batch(tmp_path):
    from safetensors.torch import load_file

    data = tmp_path / "data"
    write_tiny_tang_corpus(data)
    one_log, one_phases = run([sys.executable], tmp_path / "one", data)
    two_log, two_phases = run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node",
                               "2", "--master_addr", "127.0.0.1", "--master_port", str(free_port())],
                              tmp_path / "two", data)
    assert one_phases[-1]["processes"] == 1 and two_phases[-1]["processes"] == 2
    assert len(one_log["step_losses"]) == len(two_log["step_losses"]) == 6
    assert two_log["step_losses"] == pytest.approx(one_log["step_losses"], abs=2e-4)
    assert one_log["step_losses"][-1] < one_log["step_losses"][0] - 0.1  # it did learn something
    a = load_file(tmp_path / "one" / "model.safetensors")
    b = load_file(tmp_path / "two" / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    # the two processes split each global batch: rank 0 its first half, rank 1 its second, the one process all
    # (training on the whole batch in each process would give the same weights, at twice the cost)
    rows = {r: json.loads((tmp_path / "two" / f"rows.rank{r}.json").read_text()) for r in (0, 1)}
    whole = json.loads((tmp_path / "one" / "rows.rank0.json").read_text())
    assert len(whole) == 6 and all(len(b) == 8 for b in whole)
    assert [r0 + r1 for r0, r1 in zip(rows[0], rows[1])] == whole
    assert all(len(r) == 4 for r in rows[0] + rows[1])
