"""The benchmark scripts run and report: each names its device and ends with well-formed RESULT lines.

These check that the scripts work (a benchmark broken by an API change would otherwise only show up when
someone times a machine, such as a GPU lent for an hour), not how fast anything is: timing goals live in
benchmarks/README.md. Every run here is the smallest the script allows.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from studio.config import REPO_ROOT

pytestmark = pytest.mark.slow


def run_benchmark(script: str, *args: str, device: str = "cpu") -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", STUDIO_DEVICE=device)
    return subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def results(proc: subprocess.CompletedProcess) -> dict[str, float]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("# device: cpu — CPU"), lines[0]
    found = {}
    for line in lines:
        if line.startswith("RESULT "):
            _, name, value = line.split()
            found[name] = float(value)
    assert lines[-1].startswith("RESULT "), "RESULT lines come last"
    assert all(math.isfinite(v) and v > 0 for v in found.values()), found
    return found


@pytest.mark.parametrize("script,args,names", [
    ("gan_grid.py", ["--repeats", "1"], {"gan_grid64_ms", "gan_grid64_no_judge_ms"}),
    ("vae_grid.py", ["--repeats", "1"], {"vae_grid16_ms"}),
    ("text_decode.py", ["--tokens", "4", "--repeats", "1"],
     {"text_decode_bare_ms_per_token", "text_decode_studio_ms_per_token", "text_decode_speedup"}),
    ("diffusion_capture.py", ["--steps", "2", "--batch", "1", "--repeats", "1"],
     {"diffusion_capture_overhead", "diffusion_capture_overhead_cfg", "diffusion_first_preview_s",
      "diffusion_first_preview_cold_s"}),
    ("registry.py", ["--only", "mnist-vae-2d"],
     {"registry_first_load_s_mnist-vae-2d", "registry_cold_load_s_mnist-vae-2d", "registry_warm_hit_us_mnist-vae-2d",
      "registry_warm_hit_us"}),
])
def test_benchmark_reports_its_device_and_figures(script, args, names):
    assert set(results(run_benchmark(script, *args))) == names


def test_device_option_overrides_the_environment_and_a_missing_gpu_is_a_clear_message():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = run_benchmark("vae_grid.py", "--repeats", "1", "--device", "cuda")
    assert proc.returncode != 0
    assert "sees no CUDA GPU" in proc.stderr and "Traceback" not in proc.stderr
    # --device wins over STUDIO_DEVICE
    assert set(results(run_benchmark("vae_grid.py", "--repeats", "1", "--device", "cpu", device="cuda"))) == {
        "vae_grid16_ms"}
