"""Speed of the live lab's engines on this machine (issue 26).

    python benchmarks/lab.py [--steps 2000]

RESULT lab_gan_steps_per_s: one step = one discriminator and one generator update of the default 2-D GAN
(non-saturating, batch 256, MLPs of width 64), the ring of 8 Gaussians; floor ≥ 200.
RESULT lab_flow_steps_per_s: training steps of the default flow-matching model (batch 512, width 128).
RESULT lab_gan_frame_compute_ms: what one streamed GAN frame computes besides training: 2,500 samples, their
mode figures, the discriminator over a 64×64 grid and the generator's arrows on 256 points (the plot itself is
drawn by the tab, not measured here); goal for a whole frame ≤ 200 ms.
RESULT lab_flow_frame_compute_ms: the same for the flow model: 2,500 samples along their trajectories (the live
frame's LIVE_ODE_STEPS Heun steps),
the mode figures and the field on a 16×16 grid.
RESULT lab_gan_frame_ms / lab_flow_frame_ms: a whole frame as the Lab tab makes it during a Play (studio/lab/tab.py:
picture): the figures, the plot drawn on the trainer's kept figure (studio/lab/figures.py: Plane) and turned into a
picture; goal ≤ 200 ms.
RESULT lab_page_steps_per_s / lab_page_over_engine / lab_page_frame_gap_max_s (unless --no-page): Play with its
defaults (2,000 steps, a picture every 100 steps and at least every FRAME_SECONDS) driven through the served page's
API as a client would (`python app.py`, gradio_client): the steps per second a user receives (from the click to the
last frame), that over the engine's bare rate measured just before it (the median of --page-runs rounds), and the
longest wait between two frames in any round (issue 38: ratio >= 0.8, a frame at least every second).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from studio.lab.flow import Flow2D  # noqa: E402
from studio.lab.live import LIVE_ODE_STEPS  # noqa: E402
from studio.lab.tab import picture  # noqa: E402
from studio.lab.gan import GAN2D  # noqa: E402
from studio.lab.targets import N_SAMPLES, TARGETS, mode_stats  # noqa: E402
from benchmarks.common import announce  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--no-page", action="store_true", help="skip the Play through the served page")
    p.add_argument("--page-runs", type=int, default=3, help="rounds of (engine alone, Play through the page)")
    args = p.parse_args()
    announce(torch.device("cpu"))  # the lab trains on the CPU, whatever the studio's device
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads")
    ring = TARGETS["ring of 8"]
    gan, flow = GAN2D(ring), Flow2D(ring)
    gan_step = timed(gan.step, args.steps)
    flow_step = timed(flow.step, args.steps // 2)

    def gan_frame():
        pts = gan.samples(N_SAMPLES)
        mode_stats(pts, ring)
        gan.surface(n=64)
        gan.g_gradient(pts[:256])

    def flow_frame():
        mode_stats(flow.trajectories(N_SAMPLES, steps=LIVE_ODE_STEPS)[-1], ring)
        flow.field(0.5)

    print(f"RESULT lab_gan_steps_per_s {1 / gan_step:.0f}")
    print(f"RESULT lab_flow_steps_per_s {1 / flow_step:.0f}")
    print(f"RESULT lab_gan_frame_compute_ms {1000 * timed(gan_frame, 20):.1f}")
    print(f"RESULT lab_flow_frame_compute_ms {1000 * timed(flow_frame, 5):.1f}")
    print(f"RESULT lab_gan_frame_ms {1000 * timed(lambda: picture(gan), 10):.1f}")
    print(f"RESULT lab_flow_frame_ms {1000 * timed(lambda: picture(flow, 0.5), 5):.1f}")
    if not args.no_page:
        page, over, gaps = page_rounds(args.page_runs, args.steps)
        print(f"# page rounds (engine steps/s just before, page steps/s, longest gap s): {over}")
        print(f"RESULT lab_page_steps_per_s {statistics.median(page):.0f}")
        print(f"RESULT lab_page_over_engine {statistics.median(r[1] / r[0] for r in over):.2f}")
        print(f"RESULT lab_page_frame_gap_max_s {max(gaps):.2f}")


def page_rounds(rounds: int, steps: int) -> tuple[list[float], list[tuple], list[float]]:
    """``rounds`` times: the engine's bare rate (a new default GAN, ``steps`` steps, in this process), then one
    default Play through the served app (a new session), one after the other so both see the machine as it is then
    (this machine's speed moved by a fifth between minutes). Returns the page's steps/s, the (engine, page, gap)
    of each round, and each round's longest gap between two frames."""
    import re

    from gradio_client import Client

    from benchmarks.tab_paths import start_app

    # without the start's background import of transformers and diffusers (app.py: warm imports), which the Lab does
    # not use: a Play in the first seconds after the start shared the CPU with it, and the GIL (a third slower)
    proc, url = start_app(STUDIO_WARM_IMPORTS="0")
    page, over, gaps = [], [], []
    try:
        client = Client(url, verbose=False, ssl_verify=False)
        client.predict(steps=20, frame_every=10, api_name="/lab_train")  # warm-up: the first Play's imports
        for _ in range(rounds):
            engine = 1 / timed(GAN2D(TARGETS["ring of 8"]).step, steps)
            client = Client(url, verbose=False, ssl_verify=False)  # a new session: a new trainer, as a student's first Play
            start = time.perf_counter()
            job = client.submit(api_name="/lab_train")
            arrivals = [time.perf_counter() for _ in job]
            out = job.result()
            status = next(v for v in out if isinstance(v, str) and "**Step" in v)
            done = int(re.search(r"\*\*Step (\d+)\*\*", status).group(1))
            gap = max(b - a for a, b in zip([start] + arrivals, arrivals))
            page.append(done / (arrivals[-1] - start))
            gaps.append(gap)
            over.append((round(engine), round(page[-1]), round(gap, 2)))
        return page, over, gaps
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
