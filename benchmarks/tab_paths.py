"""What each tab's actions cost a user: every endpoint of `python app.py`, called with the controls' defaults on
the built-in models, as a browser would (through Gradio, PNG encoding and all).

    python benchmarks/tab_paths.py                       # every action: median of --runs after one warm-up call
    python benchmarks/tab_paths.py --only /vae_map --runs 5
    python benchmarks/tab_paths.py --profile /vae_map    # + a py-spy profile of the server (pip install py-spy)

Prints a table on stderr (total seconds and, for streaming actions, seconds to the first update), then
`RESULT tab_path_s_<endpoint> <s>` per action, `RESULT tab_path_slowest_<tab>_s <s> <endpoint>` per tab, and
`RESULT tab_first_update_worst_s <s> <endpoint>`: the longest a user waits, with the model loaded, from a click
to the first thing the tab shows (the goal: under 2.5 s on a 2-core CPU; the whole answer for actions that
do not stream). With
``--profile`` it samples the server process (all threads: Gradio's event loop and the handler's worker) while the
action runs and prints the functions with the largest share of samples, inclusive and own.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.app_start import free_port  # noqa: E402

# The actions a user takes; the rest (recipes, reveal, adding Hub models, unloading) need input or a network.
ACTIONS = {
    "text": ["/text_generate", "/text_compare", "/text_sample", "/text_branch"],
    "vae": ["/vae_interpolate", "/vae_grid", "/vae_map", "/vae_walk", "/vae_prior", "/vae_reconstruct"],
    "gan": ["/gan_grid", "/gan_interpolate", "/gan_walk", "/gan_story"],
    "diffusion": ["/diffusion_run", "/diffusion_compare", "/diffusion_forward", "/diffusion_export"],
    "models": ["/models_status"],
}


def start_app(**extra_env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               **extra_env)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("app.py did not answer within 120 s")


def call(client, name: str) -> tuple[float, float]:
    """(total s, s to the first update) for one call with the defaults."""
    start = time.perf_counter()
    job = client.submit(api_name=name)
    first = None
    for _ in job:  # streaming actions yield updates as they come
        if first is None:
            first = time.perf_counter() - start
    job.result()
    total = time.perf_counter() - start
    return total, first if first is not None else total


def profile(pid: int, client, name: str, runs: int, top: int = 40) -> None:
    """Sample the server with py-spy while ``name`` runs ``runs`` times; print the heaviest functions."""
    if shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    out = Path(tempfile.mkdtemp()) / "stacks.txt"
    spy = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                            "--output", str(out), "--nonblocking"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    for _ in range(runs):
        call(client, name)
    spy.send_signal(2)  # SIGINT: py-spy writes what it has
    spy.wait(timeout=60)
    inclusive, own = collections.Counter(), collections.Counter()
    busy = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if f]
        # idle threads (waiting in select / a queue / a lock) are not the action's cost
        if not frames or any(w in frames[-1] for w in ("select", "wait (threading", "_worker (", "poll (")):
            continue
        n = int(count)
        busy += n
        own[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            inclusive[f] += n
    print(f"\nprofile of {name} x{runs}: {busy} busy samples (200/s); stacks in {out}", file=sys.stderr)
    print(f"{'inclusive':>9} {'own':>6}  function", file=sys.stderr)
    for f, n in inclusive.most_common(top):
        print(f"{n / busy:9.1%} {own[f] / busy:6.1%}  {f}", file=sys.stderr)
    print("heaviest own time:", file=sys.stderr)
    for f, n in own.most_common(12):
        print(f"{'':9} {n / busy:6.1%}  {f}", file=sys.stderr)


def _short(frame: str) -> str:
    """'fn (path/to/module.py:123)' -> 'fn (module.py)'."""
    fn, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[parts.index("studio"):]) if "studio" in parts else Path(path).name
    return f"{fn} ({short})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="endpoints to time (default: every action)")
    parser.add_argument("--profile", help="an endpoint to profile with py-spy after timing")
    args = parser.parse_args()
    from gradio_client import Client

    proc, url = start_app()
    try:
        client = Client(url, verbose=False, download_files=False, ssl_verify=False)  # the server's answer; a browser then fetches files in parallel
        results: dict[str, dict[str, tuple[float, float]]] = {}
        for tab, names in ACTIONS.items():
            for name in names:
                if args.only and name not in args.only:
                    continue
                call(client, name)  # warm-up: loads the model, fills caches
                times = [call(client, name) for _ in range(args.runs)]
                total = statistics.median(t for t, _ in times)
                first = statistics.median(f for _, f in times)
                results.setdefault(tab, {})[name] = (total, first)
                print(f"{name:22} {total:7.3f} s   first update {first:7.3f} s", file=sys.stderr)
        if args.profile:
            profile(proc.pid, client, args.profile, max(args.runs, 3))
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for tab, rows in results.items():
        for name, (total, _) in rows.items():
            print(f"RESULT tab_path_s_{name.strip('/')} {total:.3f}")
    for tab, rows in results.items():
        name, (total, _) = max(rows.items(), key=lambda kv: kv[1][0])
        print(f"RESULT tab_path_slowest_{tab}_s {total:.3f} {name}")
    firsts = {name: first for rows in results.values() for name, (_, first) in rows.items()}
    if firsts:
        name = max(firsts, key=firsts.get)
        print(f"RESULT tab_first_update_worst_s {firsts[name]:.3f} {name}")


if __name__ == "__main__":
    main()
