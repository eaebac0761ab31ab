"""Serving a classroom (studio/serving/: the gate, replay, the batcher): replay, batching across users, the fair compute gate."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
import torch

from studio import serving
from studio.serving.batcher import Batcher
from studio.serving import ComputeGate, ReplayCache, recipe_key, thin


# --- the replay cache on its own ------------------------------------------------------------------------------

def counting_stream(calls: list, frames=3, gate: threading.Event | None = None):
    def compute():
        calls.append(1)
        for i in range(frames):
            if gate is not None and i == 1:
                assert gate.wait(10)
            yield {"frame": i, "items": [i, i * 10]}
    return compute


def test_a_replayed_stream_is_the_same_stream_and_every_user_gets_their_own_copy():
    cache, calls = ReplayCache(record_every_s=0), []  # every output recorded
    first = list(cache.play("k", counting_stream(calls)))
    second = list(cache.play("k", counting_stream(calls)))
    assert second == first and len(second) == 3 and len(calls) == 1
    assert cache.stats.hits == 1 and cache.stats.misses == 1
    second[0]["items"].append("changed in one session")  # e.g. a branch acting on one user's run
    third = list(cache.play("k", counting_stream(calls)))
    assert third == first and third[0] is not second[0] and third[0]["items"] == [0, 0]


def test_no_key_means_computed_every_time_and_nothing_kept():
    cache, calls = ReplayCache(), []
    for _ in range(2):
        assert len(list(cache.play(None, counting_stream(calls)))) == 3
    assert len(calls) == 2 and len(cache) == 0 and cache.stats.bypassed == 2


def test_the_cache_is_bounded_in_entries_and_in_bytes():
    cache = ReplayCache(max_entries=2)
    for k in "abc":
        list(cache.play(k, counting_stream([])))
    assert len(cache) == 2 and cache.stats.evicted == 1
    calls = []
    list(cache.play("a", counting_stream(calls)))  # the oldest went: computed again
    assert calls == [1]

    big = ReplayCache(max_bytes=40_000)  # one entry may take a quarter: 10 kB

    def blobs(n):
        return lambda: iter([b"x" * 3000] * n)
    list(big.play("a", blobs(3)))
    list(big.play("b", blobs(3)))
    assert big.nbytes <= 40_000 and len(big) == 2
    list(big.play("long", blobs(9)))  # 27 kB: thinned to fit in 10 kB, first and last kept
    assert 0 < len(big._done["long"]) <= 3 and big.nbytes <= 40_000


def test_thinning_keeps_the_first_and_last_frames():
    frames = [bytes([i]) * 10 for i in range(9)]
    kept = thin(frames, 50)
    assert kept[0] == frames[0] and kept[-1] == frames[-1] and sum(map(len, kept)) <= 50
    assert thin(frames, 15) is None


def test_a_request_that_arrives_while_the_same_recipe_computes_follows_it_live():
    cache, calls, gate = ReplayCache(), [], threading.Event()
    got = {}

    def ask(name):
        got[name] = list(cache.play("k", counting_stream(calls, gate=gate)))

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    time.sleep(0.2)  # the first is inside its computation, waiting at frame 1
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    time.sleep(0.2)
    gate.set()
    first.join(10)
    second.join(10)
    assert len(got["first"]) == 3 and len(calls) == 1 and cache.stats.follows == 1
    # a follower gets the frames made since it arrived, skipping to the newest when behind, and always the last
    assert got["second"][-1] == got["first"][-1] and all(f in got["first"] for f in got["second"])


def test_a_stream_is_recorded_at_most_every_record_every_s_its_first_and_last_always(monkeypatch):
    clock = iter(range(1000))  # the recorder reads the clock once an output: here each output is 1/16 s later
    monkeypatch.setattr(serving.replay.time, "monotonic", lambda: next(clock) / 16)
    cache, calls = ReplayCache(record_every_s=0.25), []

    def stream():
        calls.append(1)
        yield from ({"frame": i} for i in range(12))

    first = [f["frame"] for f in cache.play("k", stream)]
    assert first == list(range(12))  # the user who computes it sees every output
    kept = [f["frame"] for f in cache.play("k", stream)]
    assert len(calls) == 1 and kept == [0, 4, 8, 11]  # every 4th (1/4 s apart), and the last


def test_a_follower_computes_for_itself_when_the_run_it_followed_is_stopped():
    cache, calls, gate = ReplayCache(record_every_s=0), [], threading.Event()
    leader = cache.play("k", counting_stream(calls, gate=gate))
    assert next(leader)["frame"] == 0
    got = []
    follower = threading.Thread(target=lambda: got.extend(cache.play("k", counting_stream(calls))))
    follower.start()
    time.sleep(0.2)
    leader.close()  # the first user pressed Stop
    follower.join(10)
    assert [f["frame"] for f in got] == [0, 1, 2] and len(calls) == 2
    assert len(cache) == 1  # the follower's whole run was kept


def test_a_random_seed_or_an_argument_that_is_not_plain_data_is_never_replayed():
    assert recipe_key("f", {"seed": 3, "x": [1, 2]}) == recipe_key("f", {"x": [1, 2], "seed": 3})
    assert recipe_key("f", {"seed": 3}) != recipe_key("f", {"seed": 4})
    assert recipe_key("f", {"seed": 3}, ("weights-a",)) != recipe_key("f", {"seed": 3}, ("weights-b",))
    for seed in (-1, None):
        assert recipe_key("f", {"seed": seed}) is None
        assert recipe_key("f", {"seed_b": seed}) is None
    assert recipe_key("f", {"run": object()}) is None
    assert recipe_key("f", {"image": np.zeros(3)}) is None


# --- the machine and the gate ---------------------------------------------------------------------------------

def test_compute_slots_and_workers_come_from_the_machine():
    assert serving.compute_slots("cuda:0", cores=16) == 2
    assert serving.compute_slots("mps", cores=8) == 1
    assert serving.compute_slots("cpu", cores=2) == 1
    assert serving.compute_slots("cpu", cores=16) == 4
    assert serving.workers_for(1) == 32 and serving.workers_for(4) == 128


def test_the_gate_lets_only_its_slots_compute_at_once():
    gate = ComputeGate(2)

    @gate.held
    def work():
        time.sleep(0.05)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate.peak == 2 and gate.busy == 0


def test_the_batcher_runs_what_arrives_together_as_one_batch_and_gives_each_its_rows():
    batcher, seen = Batcher(ComputeGate(1), window_s=0.2), []

    def run(payloads):
        seen.append(list(payloads))
        yield [p * 10 for p in payloads]
        yield [p * 100 if p != 2 else None for p in payloads]  # payload 2 has nothing this step

    out = {}
    threads = [threading.Thread(target=lambda p=p: out.__setitem__(p, list(batcher.submit("k", p, 1, run))))
               for p in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {1: [10, 100], 2: [20], 3: [30, 300]}
    assert len(seen) == 1 and sorted(seen[0]) == [1, 2, 3] and batcher.stats.largest == 3
    alone = Batcher(ComputeGate(1), enabled=False)
    assert list(alone.submit("k", 3, 1, run)) == [30, 300]


def test_a_batch_never_takes_more_rows_than_its_limit_and_the_next_request_starts_another():
    """Five requests of 3 rows arriving together with a limit of 8 rows: batches of 2, 2 and 1 requests (6, 6, 3
    rows), every request answered with its own rows; a request larger than the limit alone runs by itself."""
    batcher, seen = Batcher(ComputeGate(1), window_s=1.0, max_rows=8), []
    lock = threading.Lock()

    def run(payloads):
        with lock:
            seen.append(sorted(payloads))
        yield [p * 10 for p in payloads]

    out = {}
    threads = [threading.Thread(target=lambda p=p: out.__setitem__(p, list(batcher.submit("k", p, 3, run))))
               for p in range(5)]
    for t in threads:
        t.start()
        time.sleep(0.01)  # in order, well inside the window
    for t in threads:
        t.join()
    assert out == {p: [p * 10] for p in range(5)}
    assert sorted(len(batch) * 3 for batch in seen) == [3, 6, 6] and max(len(b) for b in seen) * 3 <= 8
    assert sorted(p for batch in seen for p in batch) == list(range(5))
    assert list(batcher.submit("k", 9, 20, run)) == [90] and seen[-1] == [9]  # 20 rows > 8: its own batch
    assert list(batcher.submit("other", 7, 3, run, max_rows=2)) == [70]  # a caller's own limit


def test_a_stream_that_falls_behind_its_batch_skips_to_the_newest_output_and_never_misses_the_last():
    batcher = Batcher(ComputeGate(1), window_s=0.0)

    def run(payloads):
        for i in range(50):
            yield [i for _ in payloads]

    slow, all_of_it = [], []
    for out in batcher.submit("k", 1, 1, run, newest=True):
        slow.append(out)
        time.sleep(0.01)  # Gradio encoding and sending each frame
    assert slow[-1] == 49 and slow == sorted(set(slow)) and len(slow) < 50
    for out in batcher.submit("k", 1, 1, run):
        all_of_it.append(out)
        time.sleep(0.001)
    assert all_of_it == list(range(50))


def test_a_failing_batch_fails_each_of_its_requests_with_the_error():
    batcher = Batcher(ComputeGate(1), window_s=0.0)

    def run(payloads):
        raise ValueError("out of memory in the batch")
        yield

    with pytest.raises(ValueError, match="out of memory in the batch"):
        list(batcher.submit("k", 1, 1, run))


# --- through the studio's handlers, on the built-in models ----------------------------------------------------

@pytest.fixture(scope="module")
def studio_parts():
    from studio.catalog import builtin_specs
    from studio.config import REPO_ROOT, Settings
    from studio.registry import ModelRegistry
    from studio.ui.app import build_studio

    registry = ModelRegistry(builtin_specs(REPO_ROOT / "checkpoints"), device="cpu", max_loaded=8)
    settings = Settings(batch_window_ms=300)  # wide: the threads below start within it
    build_studio(registry, settings, localize=False)
    return registry, settings, serving.serving_of(registry)


def handler(studio_parts, tab_module, name, **defaults):
    from studio.ui.wiring import wired

    registry, settings, served = studio_parts
    ctx_class = next(v for k, v in vars(tab_module).items() if k.endswith("Context") and isinstance(v, type))
    ctx = ctx_class.of(registry, settings)
    batched = name in ("gan_grid", "diffusion_run", "text_generate", "vae_prior")
    return wired(getattr(tab_module, name), ctx, gpu=True, replay=True, batched=batched, **defaults)


def together(calls: dict) -> dict:
    """Run each call in its own thread at once; their results by name."""
    out, errors = {}, []

    def go(name, fn):
        try:
            out[name] = fn()
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)
    threads = [threading.Thread(target=go, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return out


def switched_off(served):
    class Off:
        def __enter__(self):
            self.before = served.replay.enabled, served.batcher.enabled
            served.replay.enabled = served.batcher.enabled = False

        def __exit__(self, *exc):
            served.replay.enabled, served.batcher.enabled = self.before
    return Off()


def gallery_pixels(items):
    return np.stack([np.asarray(img, dtype=np.float64) for img, _ in items])


def test_gan_grids_of_several_users_share_one_forward_pass_and_each_gets_what_it_would_alone(studio_parts):
    from studio.gan import tab

    _, _, served = studio_parts
    grid = handler(studio_parts, tab, "gan_grid", grid_side=3)
    before = served.batcher.stats.largest
    served.batcher.stats.largest = 0
    shared = together({s: (lambda s=s: grid("mnist-dcgan", "any", s, 3)) for s in (101, 202, 303)})
    assert served.batcher.stats.largest == 3  # one batch of the three
    served.batcher.stats.largest = max(before, 3)
    with switched_off(served):
        for s in (101, 202, 303):
            alone = grid("mnist-dcgan", "any", s, 3)
            assert np.abs(gallery_pixels(alone[0]) - gallery_pixels(shared[s][0])).max() <= 1.0  # uint8, rounding
            assert [c for _, c in alone[0]] == [c for _, c in shared[s][0]] and alone[1] == shared[s][1]


def test_diffusion_runs_with_the_same_settings_batch_and_match_the_runs_alone(studio_parts):
    from studio.diffusion import tab

    _, _, served = studio_parts
    run = handler(studio_parts, tab, "diffusion_run")

    def final(seed, digit, batch):  # DDPM: stochastic steps, each image its own noise generator
        return list(run("mnist-ddpm", "DDPM", 12, 0.0, digit, 2.0, seed, batch))[-1][7]

    asks = {11: "3", 22: "any", 33: "7"}
    served.batcher.stats.largest = 0
    shared = together({s: (lambda s=s: final(s, asks[s], s % 3 + 1)) for s in asks})
    assert served.batcher.stats.largest == 3
    with switched_off(served):
        for s, digit in asks.items():
            alone = final(s, digit, s % 3 + 1)
            mine = shared[s]
            assert mine.seeds == alone.seeds and mine.labels == alone.labels and mine.settings == alone.settings
            assert mine.x_t.shape == alone.x_t.shape
            torch.testing.assert_close(mine.x_t, alone.x_t, atol=1e-4, rtol=0)
            torch.testing.assert_close(mine.eps_cond.float(), alone.eps_cond.float(), atol=2e-3, rtol=0)


def text_run(outputs) -> dict:
    return next(o for o in outputs if isinstance(o, dict) and "steps" in o)


def test_text_generation_of_several_users_decodes_in_one_batch_and_matches_each_run_alone(studio_parts):
    from studio.text import tab

    _, _, served = studio_parts
    gen = handler(studio_parts, tab, "text_generate")
    asks = {  # different prompts (lengths), settings and lengths: one batch, one row each
        1: dict(prompt="ROMEO:\n", temperature=0.8, max_new_tokens=24),
        2: dict(prompt="To be, or not to be, that is", temperature=1.3, top_k=30, max_new_tokens=16),
        3: dict(prompt="", mode="greedy", max_new_tokens=20),
    }

    def final(seed):
        return text_run(list(gen(model="shakespeare-gpt", seed=seed, **asks[seed]))[-1])

    served.batcher.stats.largest = 0
    shared = together({s: (lambda s=s: final(s)) for s in asks})
    assert served.batcher.stats.largest == 3
    with switched_off(served):
        for s in asks:
            alone, mine = final(s), shared[s]
            assert [t["token_id"] for t in mine["steps"]] == [t["token_id"] for t in alone["steps"]]
            assert mine["text"] == alone["text"] and mine["notices"] == alone["notices"]
            assert np.allclose([t["prob"] for t in mine["steps"]], [t["prob"] for t in alone["steps"]], atol=1e-5)
    # and each row equals the engine's own single run (engine.generate, not the batched decoder with one row)
    from studio.text import engine

    registry = studio_parts[0]
    bundle = registry.get("shakespeare-gpt")
    for s in asks:
        mine = shared[s]
        settings = {k: v for k, v in mine["settings"].items() if k in engine.DecodeSettings.__dataclass_fields__}
        ref = engine.generate(bundle, seed=s, prompt=mine["prompt"], **settings)
        assert [t["token_id"] for t in mine["steps"]] == [st.token_id for st in ref.steps], s
        assert mine["text"] == ref.text


def test_a_replayed_text_run_is_each_sessions_own_state(studio_parts):
    from studio.text import tab

    _, _, served = studio_parts
    gen = handler(studio_parts, tab, "text_generate")
    a = text_run(list(gen(model="shakespeare-gpt", prompt="KING:", seed=7, max_new_tokens=12))[-1])
    hits = served.replay.stats.hits
    b = text_run(list(gen(model="shakespeare-gpt", prompt="KING:", seed=7, max_new_tokens=12))[-1])
    assert served.replay.stats.hits == hits + 1
    assert a == b and a is not b and a["steps"][0] is not b["steps"][0]
    b["steps"].clear()  # what one session does to its run stays in that session
    c = text_run(list(gen(model="shakespeare-gpt", prompt="KING:", seed=7, max_new_tokens=12))[-1])
    assert c == a


def test_a_random_seed_is_computed_afresh(studio_parts):
    from studio.vae import tab

    _, _, served = studio_parts
    prior = handler(studio_parts, tab, "vae_prior")
    bypassed, entries = served.replay.stats.bypassed, len(served.replay)
    first, second = prior("mnist-vae-16d", -1), prior("mnist-vae-16d", -1)
    assert served.replay.stats.bypassed == bypassed + 2 and len(served.replay) == entries
    assert np.abs(np.asarray(first, dtype=float) - np.asarray(second, dtype=float)).max() > 0


def test_a_model_reloaded_from_other_weights_is_never_answered_from_the_old_ones(studio_parts, tiny_gan_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from studio.gan import tab

    registry, _, served = studio_parts
    folder = tmp_path / "my-gan"
    shutil.copytree(tiny_gan_dir, folder)
    spec = registry.add_local_model("gan", folder)
    grid = handler(studio_parts, tab, "gan_grid", grid_side=2)
    before = gallery_pixels(grid(spec.key, "any", 5, 2)[0])
    assert np.array_equal(gallery_pixels(grid(spec.key, "any", 5, 2)[0]), before)  # replayed
    hits = served.replay.stats.hits
    weights = next(folder.rglob("*.safetensors"))
    tensors = load_file(weights)
    save_file({k: (v * 1.5 if v.is_floating_point() else v) for k, v in tensors.items()}, weights)
    registry.unload(spec.key)  # the next request loads the new weights
    after = gallery_pixels(grid(spec.key, "any", 5, 2)[0])
    assert served.replay.stats.hits == hits  # not a replay
    assert np.abs(after - before).max() > 0


# --- a fair compute gate: short slices, interactive before background, least used first -----------------------

def test_a_waiter_whose_visitor_used_the_gate_least_gets_the_next_slot():
    from studio.serving import owned_by

    gate, order, started = ComputeGate(1), [], threading.Event()
    gate._charge(("heavy",), 30.0)  # the last minute: 30 s of Lab training

    def holder():
        with gate:
            started.set()
            time.sleep(0.3)

    def waiter(name, delay):
        time.sleep(delay)
        with owned_by(name), gate:
            order.append(name)

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter, args=("heavy", 0.05)),
               threading.Thread(target=waiter, args=("light", 0.15))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert order == ["light", "heavy"]  # first come would be heavy, light


def test_interactive_work_takes_the_slot_from_background_training_at_its_next_step():
    from studio.serving import interleave, owned_by

    gate, steps, waited = ComputeGate(1), [], []

    def training():
        with owned_by("player"), gate.hold(background=True):
            for i in range(60):
                time.sleep(0.01)  # one training step
                steps.append(time.perf_counter())
                interleave()

    def generate():
        time.sleep(0.1)
        t = time.perf_counter()
        with owned_by("student"), gate:
            waited.append(time.perf_counter() - t)

    threads = [threading.Thread(target=training), threading.Thread(target=generate)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert waited[0] < 0.05  # a step, not the rest of the training (0.5 s) nor a whole slice (0.25 s)
    assert len(steps) == 60 and gate.busy == 0


def test_equals_take_turns_a_slice_at_a_time_and_background_that_waited_is_served(monkeypatch):
    from studio.serving import gate as gates
    from studio.serving import interleave, owned_by

    gate, turns = ComputeGate(1), []

    def player(name):
        with owned_by(name), gate.hold(background=True):
            for _ in range(40):
                time.sleep(0.01)
                if not turns or turns[-1] != name:
                    turns.append(name)
                interleave(0.05)

    threads = [threading.Thread(target=player, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert 4 <= len(turns) <= 20  # turns of about a slice (5 steps), not a hand-over at every step (80)

    monkeypatch.setattr(gates, "BACKGROUND_WAIT_S", 0.1)
    gate, served = ComputeGate(1), []

    def busy_class():  # interactive requests back to back, for 1 s
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            with owned_by("class"), gate:
                time.sleep(0.02)

    def play():
        time.sleep(0.05)
        t = time.perf_counter()
        with owned_by("player"), gate.hold(background=True):
            served.append(time.perf_counter() - t)

    threads = [threading.Thread(target=busy_class), threading.Thread(target=busy_class), threading.Thread(target=play)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert served and served[0] < 0.5  # it waited its 0.1 s, then went first: never starved


def test_a_thread_holding_a_slot_may_ask_again_without_deadlock():
    gate = ComputeGate(1)
    with gate:
        with gate:  # an engine asking inside a handler that holds the slot
            assert gate.busy == 1
        assert gate.busy == 1
    assert gate.busy == 0


def test_a_batch_gives_the_gate_back_between_its_steps():
    gate = ComputeGate(1)
    batcher, other, go = Batcher(gate, window_s=0.0), [], threading.Event()

    def run(payloads):
        yield [1 for _ in payloads]
        go.wait(5)  # the second step is computed only after someone else had the gate
        yield [2 for _ in payloads]

    def someone_else():
        time.sleep(0.1)
        with gate:
            other.append("computed between two steps")
        go.set()

    t = threading.Thread(target=someone_else)
    t.start()
    assert list(batcher.submit("k", 0, 1, run)) == [1, 2]
    t.join(5)
    assert other  # (a gate held for the whole batch would have deadlocked here until go's timeout)


def test_one_request_failing_in_a_batch_of_three_fails_only_that_one():
    batcher = Batcher(ComputeGate(1), window_s=0.3)

    def run(payloads):
        yield [p * 10 for p in payloads]
        if "bad" in payloads:
            raise ValueError("seed out of range for 'bad'")
        yield [p * 100 for p in payloads]

    out, errors = {}, {}

    def ask(p):
        try:
            out[p] = list(batcher.submit("k", p, 1, run))
        except ValueError as err:
            errors[p] = str(err)

    threads = [threading.Thread(target=ask, args=(p,)) for p in (1, "bad", 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == {1: [10, 100], 3: [30, 300]}  # each the outputs of its run, none repeated after the retry
    assert list(errors) == ["bad"] and "for 'bad'" in errors["bad"]
    assert batcher.stats.largest == 3 and batcher.stats.retried_alone == 3


def test_a_row_that_finishes_leaves_the_batch_at_once_and_a_row_whose_user_left_is_dropped():
    from studio.serving.batcher import Last

    batcher, release, seen_live = Batcher(ComputeGate(1), window_s=0.3), threading.Event(), []

    def run(payloads, live):
        yield [Last("short: done") if p == "short" else "long: 1" for p in payloads]
        release.wait(5)
        seen_live.append({p: live(i) for i, p in enumerate(payloads)})
        yield [None if p == "short" else "long: 2" for p in payloads]

    finished = {}

    def ask(p):
        finished[p] = (list(batcher.submit("k", p, 1, run)), release.is_set())

    threads = [threading.Thread(target=ask, args=(p,)) for p in ("short", "long")]
    for t in threads:
        t.start()
    threads[0].join(5)
    assert finished["short"] == (["short: done"], False)  # ended before the long row's next step
    release.set()
    threads[1].join(5)
    assert finished["long"][0] == ["long: 1", "long: 2"]
    assert seen_live == [{"short": False, "long": True}]  # the short row's user has all of it and is gone

    release.clear()
    dropped = []

    def run2(payloads, live):
        for i in range(50):
            if not live(0):
                dropped.append(i)
                return
            yield [i for _ in payloads]
            time.sleep(0.01)

    stream = batcher.submit("k2", "x", 1, run2)
    assert next(stream) == 0
    stream.close()  # the user pressed Stop
    time.sleep(0.3)
    assert dropped and dropped[0] < 10  # the run saw it at its next step and stopped computing


def test_a_recording_in_progress_is_bounded():
    from studio.serving import Recording

    rec = Recording(budget=100)
    for j in range(50):
        rec.add(j, bytes([j]) * 30)
    assert rec.nbytes <= 130 and rec.index[0] == 0 and rec.index[-1] == 49
    assert rec.newest(0) == (49, bytes([49]) * 30)


def test_text_rows_that_end_early_are_answered_before_the_longest_row(studio_parts):
    from studio.text import tab

    gen = handler(studio_parts, tab, "text_generate")
    ended = {}

    def final(n, seed):
        out = list(gen(model="shakespeare-gpt", prompt="ROMEO:\n", seed=seed, max_new_tokens=n))
        ended[n] = time.perf_counter()
        return out

    shared = together({5: lambda: final(5, 71), 120: lambda: final(120, 72)})
    assert len(text_run(shared[5][-1])["steps"]) == 5
    assert ended[120] - ended[5] > 0.3  # the 5-token answer did not wait for the 120-token row


def test_a_replayed_result_is_only_handed_to_a_page_in_the_language_it_was_made_in():
    """The replay key holds the page's language (its text and plots are drawn in it): the Chinese page asking what the
    English page asked computes its own answer, then both are replayed to their own language."""
    from types import SimpleNamespace

    from studio import i18n
    from studio.config import Settings
    from studio.registry import ModelRegistry
    from studio.ui.wiring import wired

    registry = ModelRegistry([], device="cpu")
    serving.attach(registry, serving.Serving.from_settings(Settings(), "cpu"))
    calls = []

    def drawn(ctx, seed=0):
        calls.append(i18n.current_lang())
        return f"drawn in {i18n.current_lang()} for seed {seed}"

    handler = wired(drawn, SimpleNamespace(registry=registry), replay=True)
    assert handler(seed=3) == "drawn in en for seed 3"
    with i18n.using("zh-CN"):
        assert handler(seed=3) == "drawn in zh-CN for seed 3"
        assert handler(seed=3) == "drawn in zh-CN for seed 3"
    assert handler(seed=3) == "drawn in en for seed 3"
    assert calls == ["en", "zh-CN"]  # one computation per language; the repeats were replayed
