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
    ("text_inside.py", ["--tokens", "16", "--repeats", "1"],
     {"text_inside_attention_ms", "text_inside_lens_ms", "text_inside_total_ms"}),
    ("diffusion_capture.py", ["--steps", "2", "--batch", "1", "--repeats", "1"],
     {"diffusion_capture_overhead", "diffusion_capture_overhead_cfg", "diffusion_first_preview_s",
      "diffusion_first_preview_cold_s", "t2i_capture_overhead", "t2i_first_preview_s"}),
    ("lab.py", ["--steps", "20", "--no-page"], {"lab_gan_steps_per_s", "lab_flow_steps_per_s", "lab_gan_frame_compute_ms",
                                    "lab_flow_frame_compute_ms", "lab_gan_frame_ms", "lab_flow_frame_ms"}),
    ("registry.py", ["--only", "mnist-vae-2d"],
     {"registry_first_load_s_mnist-vae-2d", "registry_cold_load_s_mnist-vae-2d"}),
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


def test_tab_paths_times_actions_of_the_running_app_and_names_the_longest_wait():
    """The app-level benchmark starts `python app.py`, calls two actions and reports the longest warm wait for a
    first answer (neither streams, so its first answer is its whole answer)."""
    proc = subprocess.run([sys.executable, "benchmarks/tab_paths.py", "--only", "/vae_grid", "/vae_map", "--runs", "1"],
                          cwd=REPO_ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1", STUDIO_DEVICE="cpu"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = {line.split()[1]: line.split()[2:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")}
    assert set(found) == {"tab_path_s_vae_grid", "tab_path_s_vae_map", "tab_path_slowest_vae_s",
                          "tab_first_update_worst_s"}, found
    totals = {f"/{k[len('tab_path_s_'):]}": float(v[0]) for k, v in found.items() if k.startswith("tab_path_s_")}
    worst = max(totals, key=totals.get)
    assert found["tab_first_update_worst_s"] == [f"{totals[worst]:.3f}", worst]
    assert all(t > 0 for t in totals.values())


def test_load_reports_errors_latency_and_memory_at_the_end_and_at_its_peak():
    proc = subprocess.run([sys.executable, "benchmarks/load.py", "--clients", "2", "--seconds", "5"],
                          cwd=REPO_ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1", STUDIO_DEVICE="cpu"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = {line.split()[1]: float(line.split()[2]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")}
    assert set(found) == {"load_requests", "load_p50_s", "load_p95_s", "load_errors", "load_rss_growth",
                          "load_rss_peak_growth"}, found
    assert found["load_errors"] == 0 and found["load_requests"] >= 1
    assert 0 < found["load_p50_s"] <= found["load_p95_s"]
    # the peak is over the samples and the end, so it is never below the end
    assert found["load_rss_peak_growth"] >= found["load_rss_growth"]
    highest = max(int(m) for m in proc.stdout.split("RSS samples every 2 s (MiB):")[1].splitlines()[0].split())
    start = int(proc.stdout.split(" MiB after the warm-up round")[0].rsplit(" ", 1)[1])
    assert found["load_rss_peak_growth"] >= highest / start - 1 - 0.002


def test_load_growth_at_the_end_and_at_the_peak():
    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.load import rss_growth

    # the README's case: a mid-run rise the end does not show
    assert rss_growth(698, [698, 750, 720], 722) == (pytest.approx(722 / 698 - 1), pytest.approx(750 / 698 - 1))
    assert rss_growth(700, [690, 700], 710) == (pytest.approx(10 / 700), pytest.approx(10 / 700))
    assert rss_growth(700, [], 690) == (pytest.approx(-10 / 700), pytest.approx(-10 / 700))


def test_every_published_figure_names_a_command_that_exists():
    """benchmarks/README.md's table of figures: each row names the script (and flags) that gives it, and each
    script and flag named exists (a figure no command reproduces is not published)."""
    import re

    text = (REPO_ROOT / "benchmarks" / "README.md").read_text()
    table = text[text.index("## Latest figures"):]
    table = table[:table.index("\n\n", table.index("| figure |"))]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| figure", "|---"))]
    assert len(rows) >= 10
    last_script = None
    for row in rows:
        command = row.split(" | ")[1]
        commands = re.findall(r"`(?:[A-Z_]+=\S+ )?python (benchmarks/\w+\.py)([^`]*)`", command)
        assert commands or (command == "same" and last_script), f"no command for: {row[:80]}"
        for script, flags in commands:
            source = (REPO_ROOT / script).read_text()
            for flag in re.findall(r"--[\w-]+", flags):
                assert f'"{flag}"' in source, f"{script} has no {flag} (row: {row[:60]})"
            last_script = script


def test_classroom_serves_a_small_class_with_replay_on_and_off():
    """benchmarks/classroom.py with 4 students: both servers answer every request, and the teacher's link (its
    run made first) comes back faster with replay on than the whole class computing it with replay off."""
    proc = subprocess.run([sys.executable, "benchmarks/classroom.py", "--students", "4", "--within", "1",
                           # a slow CI machine finished none in 10 s: the window stays open for 2 at least
                           "--seconds", "10", "--warm", "2", "--at-least", "2", "--rounds", "1",
                           "--players", "2", "--asks", "3"], cwd=REPO_ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1", STUDIO_DEVICE="cpu"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = {line.split()[1]: float(line.split()[2]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")}
    assert {"classroom_same_link_p95_s", "classroom_same_link_teacher_first_p95_s", "classroom_throughput_ratio",
            "classroom_throughput_rpm", "classroom_throughput_off_rpm"} <= set(found), found
    assert found["classroom_errors"] == 0 and found["classroom_throughput_rpm"] > 0, proc.stdout[-3000:]
    assert found["classroom_throughput_off_rpm"] > 0, proc.stdout[-3000:]
    # (c) the Lab storm: text answered alone and while two students press Play, and the Plays trained meanwhile
    assert found["classroom_text_p95_alone_s"] > 0 and found["classroom_text_p95_lab_storm_s"] > 0
    assert found["classroom_lab_storm_steps_per_s"] > 0
    assert found["classroom_same_link_teacher_first_p95_s"] < found["classroom_same_link_teacher_first_p95_off_s"]
