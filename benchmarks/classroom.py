"""A classroom against one machine: 30 simulated students and ``python app.py`` on the built-in models.

    python benchmarks/classroom.py [--students 30] [--within 10] [--seconds 60] [--warm 20] [--rounds 2]

(a) **The same link.** The teacher projects a view nobody has run yet (``?tab=diffusion&diff-seed=2026&run=1``:
    the Diffusion tab's default run at seed 2026) and every student opens it within ``--within`` seconds
    (random arrival times, seeded): each sends the same request. Then again with the next seed's link, which
    the teacher's projector runs first (as in class: the teacher opens the view, then the students). Reported: p50 / p95 from a student's click to the whole result.
(b) **Their own work.** Each student runs their own seed on the Diffusion and GAN tabs and their own prompt on
    the Text tab, in a loop (the tabs' defaults otherwise). Counted: the requests that finish in the ``--seconds``
    after the first ``--warm`` seconds (the class's steady pace, not everyone's first click at once). Reported:
    requests per minute, p50 / p95. ``--at-least K`` keeps the window open until K requests finished in it
    (the test's short run on a slow machine); the rates are then per minute of the window as it was.

The simulated students are 30 threads of this process on the server's own cores (a real class runs its browsers
on its own laptops), so they do not download the result images (``download_files=False``; the server still
encodes them and serves their URLs).

Both are run against fresh servers: with replay and batching on (the default) and with both switched off
(``STUDIO_REPLAY=0 STUDIO_BATCH=0``, every request computed alone, one at a time: the studio before they existed);
(b) ``--rounds`` times, alternating on and off, the ratio taken over the sums (one pair moved by ±0.3 on a shared
2-core machine). The models are warmed up first (each used once: the teacher opened the page before class).

    RESULT classroom_same_link_p95_s <s>         (on; floor ≤ 2 s, goal ≤ 1 s)
    RESULT classroom_same_link_p95_off_s <s>
    RESULT classroom_same_link_teacher_first_p95_s <s>   (the same, a link the teacher's projector ran first)
    RESULT classroom_throughput_rpm <requests per minute>       (on)
    RESULT classroom_throughput_off_rpm <requests per minute>
    RESULT classroom_throughput_ratio <on / off>  (floor ≥ 1.5, goal ≥ 3)

(c) **A Lab storm** (``--only storm`` runs it alone): one student asks for 20 tokens of text (``text_generate``,
    ``max_new_tokens=20``, a new seed each time) ``--asks`` times in a row, alone, and again while ``--players``
    others press Play in the Lab with its defaults (each Play 2,000 steps, then Play again). The fair compute gate
    (studio/serving/gate.py) gives the slot to whoever used it least lately, and Play trains in slices of 0.25 s:

    RESULT classroom_text_p95_alone_s <s>
    RESULT classroom_text_p95_lab_storm_s <s>
    RESULT classroom_lab_storm_ratio <storm / alone>   (goal ≤ 2)
    RESULT classroom_lab_storm_steps_per_s <steps/s>   (what the six Plays trained meanwhile, all together)
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import free_port  # noqa: E402

LINK_SEED = 2026
SEED = "Seed (image i uses seed + i; -1 = random)"  # the Diffusion tab's seed, by its label
PROMPTS = ["ROMEO:\n", "JULIET:\n", "To be, or not to be", "First Citizen:\n", "KING HENRY:\nMy lords,",
           "What light through yonder", "O, what a rogue", "Now is the winter of", "HAMLET:\n", "MACBETH:\n"]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def median(values: list[float]) -> float:
    """The median, or nan when no request finished in the window (a figure says so rather than the script failing)."""
    return statistics.median(values) if values else float("nan")


def labelled_args(client, name: str, overrides: dict) -> list:
    """The endpoint's arguments: its defaults, with ``overrides`` by parameter label."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][name]["parameters"]
    labels = [p["label"].get("key") if isinstance(p.get("label"), dict) else p.get("label") for p in params]
    missing = set(overrides) - set(labels)
    if missing:
        raise SystemExit(f"{name} has no parameter labelled {sorted(missing)}; it has {labels}")
    return [overrides.get(label, p.get("parameter_default")) for label, p in zip(labels, params)]


class Server:
    def __init__(self, switched_on: bool):
        from gradio_client import Client

        self.port = free_port()
        env = dict(os.environ, GRADIO_SERVER_PORT=str(self.port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
                   STUDIO_MCP="0", STUDIO_REPLAY="1" if switched_on else "0", STUDIO_BATCH="1" if switched_on else "0")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/"
        deadline = time.time() + 180
        while True:
            try:
                self.client = Client(self.url, verbose=False, ssl_verify=False)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit("the studio did not start")
                time.sleep(0.5)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_class(student, clients) -> None:
    """``student(i)`` for every student at once, one thread each; then their clients are closed."""
    threads = [threading.Thread(target=student, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()


def same_link(server: Server, students: int, within: float, seed: int, link_seed: int) -> list[float]:
    """Every student sends the projected view's request at a random moment within ``within`` s."""
    from gradio_client import Client

    args = labelled_args(server.client, "/diffusion_run", {SEED: link_seed})
    rng = random.Random(seed)
    arrivals = sorted(rng.uniform(0, within) for _ in range(students))
    clients = [Client(server.url, verbose=False, download_files=False, ssl_verify=False) for _ in range(students)]
    latencies, errors, timeline = [], [], []
    start = time.perf_counter()

    def student(i):
        time.sleep(max(0.0, arrivals[i] - (time.perf_counter() - start)))
        t = time.perf_counter()
        try:
            clients[i].predict(*args, api_name="/diffusion_run")
            latencies.append(time.perf_counter() - t)
            timeline.append((arrivals[i], time.perf_counter() - t))
        except Exception as err:  # noqa: BLE001 - counted
            errors.append(str(err)[:120])

    run_class(student, clients)
    if errors:
        print("same-link errors:", errors[:5])
    print("# same link, (arrival s, latency s):", " ".join(f"({a:.1f}, {t:.2f})" for a, t in sorted(timeline)))
    return latencies


def own_work(server: Server, students: int, seconds: float, warm: float = 20.0,
             at_least: int = 0) -> tuple[list[tuple[str, float]], int, float]:
    """Each student loops over Diffusion (own seed), GAN (own seed), Text (own prompt and seed). Counted: the
    requests that finish within ``seconds`` after the first ``warm`` seconds (everyone starts at once, so the
    first requests all wait for one another; the class's steady pace comes after). The window stays open past
    ``seconds`` until ``at_least`` requests finished in it (at most 20x as long: a slow machine still gives a
    figure); returned with its length, which the rates are taken over."""
    from gradio_client import Client

    c = server.client
    base = {"/diffusion_run": labelled_args(c, "/diffusion_run", {}), "/gan_grid": labelled_args(c, "/gan_grid", {}),
            "/text_generate": labelled_args(c, "/text_generate", {})}
    seed_at = {name: next(i for i, p in enumerate(
        c.view_api(return_format="dict", print_info=False)["named_endpoints"][name]["parameters"])
        if p["parameter_name"] == "seed") for name in base}
    prompt_at = next(i for i, p in enumerate(
        c.view_api(return_format="dict", print_info=False)["named_endpoints"]["/text_generate"]["parameters"])
        if p["parameter_name"] == "prompt")
    clients = [Client(server.url, verbose=False, download_files=False, ssl_verify=False) for _ in range(students)]
    done: list[tuple[str, float]] = []
    errors: list[str] = []
    count_from = time.time() + warm
    nominal_end, give_up = count_from + seconds, count_from + 20 * seconds
    end = {"t": nominal_end}
    lock = threading.Lock()

    def counting(now: float) -> bool:
        return now < nominal_end or (len(done) < at_least and now < give_up)

    def student(i):
        rng = random.Random(1000 + i)
        order = list(base)
        rng.shuffle(order)  # students do not all start on the same tab
        k = 0
        while counting(time.time()):
            name = order[k % len(order)]
            k += 1
            args = list(base[name])
            args[seed_at[name]] = rng.randrange(1, 100_000)
            if name == "/text_generate":
                args[prompt_at] = PROMPTS[i % len(PROMPTS)]
            t = time.perf_counter()
            try:
                clients[i].predict(*args, api_name=name)
                with lock:
                    now = time.time()
                    if count_from <= now and counting(now):  # finished inside the counted window
                        done.append((name, time.perf_counter() - t))
                        end["t"] = max(end["t"], now)
            except Exception as err:  # noqa: BLE001 - counted
                errors.append(f"{name}: {str(err)[:120]}")

    run_class(student, clients)
    for e in errors[:5]:
        print("error:", e)
    return done, len(errors), end["t"] - count_from


def args_by_name(client, name: str, overrides: dict) -> list:
    """The endpoint's arguments: its defaults, with ``overrides`` by parameter name."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][name]["parameters"]
    return [overrides.get(p["parameter_name"], p.get("parameter_default")) for p in params]


def lab_storm(server: Server, players: int, asks: int) -> dict:
    """A student's 20-token text requests, alone and while ``players`` students press Play in the Lab."""
    from gradio_client import Client

    text = Client(server.url, verbose=False, download_files=False, ssl_verify=False)
    seeds = iter(range(10_000, 20_000))

    def ask() -> float:
        args = args_by_name(text, "/text_generate", {"max_new_tokens": 20, "seed": next(seeds)})
        t = time.perf_counter()
        text.predict(*args, api_name="/text_generate")
        return time.perf_counter() - t

    ask()  # warm
    alone = [ask() for _ in range(asks)]
    play_args = args_by_name(server.client, "/lab_train", {})
    clients = [Client(server.url, verbose=False, download_files=False, ssl_verify=False) for _ in range(players)]
    stop, steps, errors = threading.Event(), [0] * players, []

    def player(i):
        args = list(play_args)
        done_before = 0
        while not stop.is_set():
            try:
                job = clients[i].submit(*args, api_name="/lab_train")
                for out in job:  # the frames as they come, as a page receives them
                    shown = re.search(r"\*\*Step (\d+)\*\*", str(out[1])) if isinstance(out, (list, tuple)) else None
                    if shown:
                        steps[i] = done_before + int(shown.group(1))
                    if stop.is_set():
                        job.cancel()
                        break
                done_before = steps[i]
            except Exception as err:  # noqa: BLE001 - counted
                errors.append(str(err)[:120])
                return

    threads = [threading.Thread(target=player, args=(i,), daemon=True) for i in range(players)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(3.0)  # the Plays under way
    stormed = [ask() for _ in range(asks)]
    elapsed = time.perf_counter() - began
    print("# text latencies alone:", " ".join(f"{t:.2f}" for t in alone))
    print("# text latencies in the storm:", " ".join(f"{t:.2f}" for t in stormed))
    stop.set()
    for t in threads:
        t.join(60)
    for c in [text, *clients]:
        c.close()
    if errors:
        print("lab storm errors:", errors[:3])
    print(f"# lab storm: text alone p50 {median(alone):.2f} s p95 {percentile(alone, 0.95):.2f} s; with "
          f"{players} Plays p50 {median(stormed):.2f} s p95 {percentile(stormed, 0.95):.2f} s")
    return {"alone": percentile(alone, 0.95), "storm": percentile(stormed, 0.95),
            "steps_per_s": sum(steps) / elapsed, "errors": len(errors)}


def warm_up(server: Server) -> None:
    for name in ("/diffusion_run", "/gan_grid", "/text_generate"):
        server.client.predict(*labelled_args(server.client, name, {}), api_name=name)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--within", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=60.0, help="(b)'s counted window, after --warm seconds")
    p.add_argument("--warm", type=float, default=20.0, help="(b)'s first seconds, not counted")
    p.add_argument("--at-least", type=int, default=0,
                   help="(b)'s window stays open past --seconds until this many requests finished in it (a slow "
                        "machine in a short test run); the rates are per minute of the window as it was")
    p.add_argument("--rounds", type=int, default=2,
                   help="(b) alternates on / off servers this many times (on a shared 2-core machine one pair "
                        "moved by ±0.3); the ratio is of the requests summed over the rounds")
    p.add_argument("--players", type=int, default=6, help="(c): students pressing Play in the Lab")
    p.add_argument("--asks", type=int, default=20, help="(c): text requests timed, alone and in the storm")
    p.add_argument("--only", choices=["storm"], default=None, help="run (c) alone")
    args = p.parse_args()
    print(f"# {os.cpu_count()} CPU cores", flush=True)
    server = Server(switched_on=True)
    try:
        storm = lab_storm(server, args.players, args.asks)
    finally:
        server.close()
    print(f"RESULT classroom_text_p95_alone_s {storm['alone']:.3f}")
    print(f"RESULT classroom_text_p95_lab_storm_s {storm['storm']:.3f}")
    print(f"RESULT classroom_lab_storm_ratio {storm['storm'] / storm['alone']:.2f}")
    print(f"RESULT classroom_lab_storm_steps_per_s {storm['steps_per_s']:.0f}", flush=True)
    if args.only == "storm":
        return
    links, work, errors, windows = {}, {"on": [], "off": []}, {"on": 0, "off": 0}, {"on": 0.0, "off": 0.0}
    for round_ in range(args.rounds):
        for mode in ("on", "off"):
            server = Server(switched_on=mode == "on")
            try:
                warm_up(server)
                if round_ == 0:
                    link = same_link(server, args.students, args.within, seed=7, link_seed=LINK_SEED)
                    server.client.predict(*labelled_args(server.client, "/diffusion_run", {SEED: LINK_SEED + 1}),
                                          api_name="/diffusion_run")  # the teacher's projector runs it first
                    taught = same_link(server, args.students, args.within, seed=8, link_seed=LINK_SEED + 1)
                    links[mode] = (link, taught)
                    print(f"# {mode}: same link: {len(link)} answered, p50 {median(link):.2f} s, "
                          f"p95 {percentile(link, 0.95):.2f} s, max {max(link, default=float('nan')):.2f} s")
                    print(f"# {mode}: same link, the teacher's run first: p50 {median(taught):.2f} s, "
                          f"p95 {percentile(taught, 0.95):.2f} s")
                done, failed, window = own_work(server, args.students, args.seconds, args.warm, args.at_least)
            finally:
                server.close()
            work[mode] += done
            errors[mode] += failed
            windows[mode] += window
            lat = [s for _, s in done]
            print(f"# {mode}, round {round_ + 1}: own work: {len(done)} requests in {window:.0f} s ({failed} "
                  f"failed), p50 {median(lat):.2f} s, p95 {percentile(lat, 0.95):.2f} s", flush=True)
            for name in ("/diffusion_run", "/gan_grid", "/text_generate"):
                mine = [s for n, s in done if n == name]
                if mine:
                    print(f"#   {name:15s} n={len(mine):4d} p50 {median(mine):6.2f} s p95 "
                          f"{percentile(mine, 0.95):6.2f} s")
    rpm = {m: len(work[m]) / windows[m] * 60 for m in work}
    print(f"# {args.students} students, {os.cpu_count()} CPU cores, {args.rounds} rounds of {args.seconds:.0f} s")
    print(f"RESULT classroom_same_link_p50_s {median(links['on'][0]):.3f}")
    print(f"RESULT classroom_same_link_p95_s {percentile(links['on'][0], 0.95):.3f}")
    print(f"RESULT classroom_same_link_p95_off_s {percentile(links['off'][0], 0.95):.3f}")
    print(f"RESULT classroom_same_link_teacher_first_p95_s {percentile(links['on'][1], 0.95):.3f}")
    print(f"RESULT classroom_same_link_teacher_first_p95_off_s {percentile(links['off'][1], 0.95):.3f}")
    for m in ("on", "off"):
        lat = [s for _, s in work[m]]
        suffix = "" if m == "on" else "_off"
        print(f"RESULT classroom_throughput{suffix}_rpm {rpm[m]:.1f}")
        print(f"RESULT classroom_p50{suffix}_s {median(lat):.3f}")
        print(f"RESULT classroom_p95{suffix}_s {percentile(lat, 0.95):.3f}")
    print(f"RESULT classroom_errors {errors['on'] + errors['off']}")
    print(f"RESULT classroom_throughput_ratio {rpm['on'] / rpm['off'] if rpm['off'] else float('nan'):.2f}")


if __name__ == "__main__":
    main()
