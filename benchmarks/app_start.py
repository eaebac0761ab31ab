"""Time from `python app.py` starting to (1) the page answering and (2) the first API answer (models_status).

    python benchmarks/app_start.py [--runs 3]

Prints `RESULT app_start_page_s <s>` and `RESULT app_start_first_answer_s <s>` (medians over the runs).
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run() -> tuple[float, float]:
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
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

        client = Client(url, verbose=False)
        client.predict(api_name="/models_status")
        first = time.perf_counter() - start
        client.close()
        return page, first
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pages, firsts = [], []
    for i in range(args.runs):
        page, first = one_run()
        pages.append(page)
        firsts.append(first)
        print(f"run {i}: page {page:.2f} s, first answer {first:.2f} s", file=sys.stderr)
    print(f"RESULT app_start_page_s {statistics.median(pages):.2f}")
    print(f"RESULT app_start_first_answer_s {statistics.median(firsts):.2f}")


if __name__ == "__main__":
    main()
