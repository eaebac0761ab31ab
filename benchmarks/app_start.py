"""Time from `python app.py` starting to (1) the page answering and (2) the first API answer (models_status);
then (3) a student's first clicks: after `--think` seconds on the page (default 10), the Text tab's Generate and the
Diffusion tab's Run with their defaults, timed to their first streamed update (model loading included).

    python benchmarks/app_start.py [--runs 3] [--think 10] [--no-warm]

``--no-warm`` starts the app with STUDIO_WARM_IMPORTS=0 (libraries imported by the first click itself), for the
before/after of the background warm-up. Prints `RESULT app_start_page_s <s>`, `RESULT app_start_first_answer_s <s>`,
`RESULT app_first_generate_s <s>` and `RESULT app_first_diffusion_s <s>` (medians over the runs).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(think: float = 10.0, warm: bool = True) -> tuple[float, float, float, float]:
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               STUDIO_WARM_IMPORTS="1" if warm else "0")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            if proc.poll() is not None:
                raise RuntimeError("app.py exited early")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
            if time.perf_counter() - start > 120:
                raise RuntimeError("app.py did not answer within 120 s")
        page = time.perf_counter() - start
        from gradio_client import Client

        from benchmarks.tab_paths import call

        client = Client(url, verbose=False, download_files=False, ssl_verify=False)
        client.predict(api_name="/models_status")
        first = time.perf_counter() - start
        time.sleep(max(0.0, start + page + think - time.perf_counter()))  # the student reads the page
        _, generate = call(client, "/text_generate")
        _, diffusion = call(client, "/diffusion_run")
        client.close()
        return page, first, generate, diffusion
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--think", type=float, default=10.0, help="seconds on the page before the first click")
    parser.add_argument("--no-warm", action="store_true", help="STUDIO_WARM_IMPORTS=0")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.think, warm=not args.no_warm))
        page, first, generate, diffusion = runs[-1]
        print(f"run {i}: page {page:.2f} s, first answer {first:.2f} s; {args.think:g} s later, first Generate "
              f"{generate:.2f} s, first diffusion Run {diffusion:.2f} s (to the first update)", file=sys.stderr)
    for name, k in [("app_start_page_s", 0), ("app_start_first_answer_s", 1), ("app_first_generate_s", 2),
                    ("app_first_diffusion_s", 3)]:
        print(f"RESULT {name} {statistics.median(r[k] for r in runs):.2f}")


if __name__ == "__main__":
    main()
