"""Load test: 16 concurrent clients across every tab for 60 seconds against a launched studio (``python app.py``
on the built-in models, in its own process).

    python benchmarks/load.py [--clients 16] [--seconds 60]

Each client loops over a mix of requests (text generation, GAN grid, VAE interpolation and grid, a diffusion
run, the Models table) with its own seeds. Before the clock starts every model is used once (lazy loading is
not growth) and then all the clients make one round of every request together (the server's worker threads,
their allocator arenas and the sessions exist from then on); errors in that round count too. The server's
resident memory is sampled every 2 s during the run, so a leak (a steady climb) can be told from a step.
Reported: requests, failures, p50 / p95 latency, and the resident memory before the warm-up, at the start of
the timed run, its samples, and at the end.

    RESULT load_p95_s <seconds>
    RESULT load_errors <count>
    RESULT load_rss_growth <fraction>        (end / start − 1; the goal is at most 0.10)
    RESULT load_rss_peak_growth <fraction>   (the highest sample, or the end, / start − 1: how far it rose on the way)
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (endpoint, {parameter label: value}) — labels as the API lists them; the rest take their defaults.
MIX = [
    ("/text_generate", {"Max new tokens": 40}),
    ("/gan_grid", {}),
    ("/vae_interpolate", {}),
    ("/vae_grid", {}),
    ("/diffusion_run", {"Steps": 10, "Batch size": 1}),
    ("/models_status", {}),
]
SEED_LABELS = ("Seed", "First seed", "Seed (image i uses seed + i; -1 = random)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_growth(start: int, samples: list[int], end: int) -> tuple[float, float]:
    """(end / start − 1, highest of the samples and the end / start − 1)."""
    return end / start - 1, max([*samples, end]) / start - 1


def argument_lists(client) -> dict:
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    out = {}
    for name, overrides in MIX:
        params = api[name]["parameters"]
        # a translated label comes as {"__type__": "translation_metadata", "key": <the English>}
        labels = [p["label"].get("key") if isinstance(p.get("label"), dict) else p.get("label") for p in params]
        missing = set(overrides) - set(labels)
        if missing:
            raise SystemExit(f"{name} has no parameter labelled {sorted(missing)}; it has {labels}")
        args = [overrides.get(label, p.get("parameter_default")) for label, p in zip(labels, params)]
        seed_at = next((i for i, lab in enumerate(labels) if lab in SEED_LABELS), None)
        out[name] = (args, seed_at)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60)
    args = p.parse_args()
    import psutil
    from gradio_client import Client

    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            try:
                warm = Client(url, verbose=False, ssl_verify=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the studio did not start")
                time.sleep(0.5)
        calls = argument_lists(warm)
        for name, (call_args, _) in calls.items():  # load every model once
            warm.predict(*call_args, api_name=name)
        proc = psutil.Process(server.pid)
        rss_cold = proc.memory_info().rss
        latencies: list[tuple[str, float]] = []
        errors: list[str] = []
        lock = threading.Lock()
        clients = [Client(url, verbose=False, ssl_verify=False) for _ in range(args.clients)]
        stop_at = 0.0
        started = threading.Barrier(args.clients + 1)

        def worker(i: int) -> None:
            rng = random.Random(i)
            client = clients[i]
            for name, (call_args, _) in calls.items():  # the warm-up round, all clients together
                try:
                    client.predict(*call_args, api_name=name)
                except Exception as err:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"warm-up {name}: {str(err)[:120]}")
            started.wait()
            started.wait()  # the main thread has read the starting memory
            while time.time() < stop_at:
                name = rng.choice(list(calls))
                call_args, seed_at = calls[name]
                call_args = list(call_args)
                if seed_at is not None:
                    call_args[seed_at] = rng.randrange(10_000)
                start = time.perf_counter()
                try:
                    client.predict(*call_args, api_name=name)
                    with lock:
                        latencies.append((name, time.perf_counter() - start))
                except Exception as err:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"{name}: {str(err)[:120]}")
            client.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        started.wait()
        rss_start = proc.memory_info().rss
        stop_at = time.time() + args.seconds
        samples = []
        started.wait()
        while any(t.is_alive() for t in threads):
            samples.append(proc.memory_info().rss)
            time.sleep(2)
        for t in threads:
            t.join()
        rss_end = proc.memory_info().rss
        rss_peak = max([*samples, rss_end])
    finally:
        server.terminate()
        server.wait(timeout=30)
    lat = sorted(s for _, s in latencies)
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
    print(f"# {args.clients} clients for {args.seconds:.0f} s; {len(lat)} requests answered, {len(errors)} failed; "
          f"{os.cpu_count()} CPU cores")
    for name in calls:
        mine = [s for n, s in latencies if n == name]
        if mine:
            print(f"{name:18s} n={len(mine):4d}  p50 {statistics.median(mine):6.2f} s  max {max(mine):6.2f} s")
    for e in errors[:10]:
        print("error:", e)
    print(f"server RSS {rss_cold / 2**20:.0f} MiB after loading the models, {rss_start / 2**20:.0f} MiB after the "
          f"warm-up round (the start), {rss_end / 2**20:.0f} MiB at the end, {rss_peak / 2**20:.0f} MiB at the "
          f"highest sample")
    step = max(1, len(samples) // 12)
    print("RSS samples every 2 s (MiB):", " ".join(f"{r / 2**20:.0f}" for r in samples[::step]))
    print(f"RESULT load_requests {len(lat)}")
    print(f"RESULT load_p50_s {statistics.median(lat) if lat else float('nan'):.3f}")
    print(f"RESULT load_p95_s {p95:.3f}")
    print(f"RESULT load_errors {len(errors)}")
    end_growth, peak_growth = rss_growth(rss_start, samples, rss_end)
    print(f"RESULT load_rss_growth {end_growth:.3f}")
    print(f"RESULT load_rss_peak_growth {peak_growth:.3f}")


if __name__ == "__main__":
    main()
