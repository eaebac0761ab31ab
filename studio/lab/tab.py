"""The Lab tab: a GAN or a flow-matching model learning a 2-D distribution live, on this machine's CPU.

GAN Lab's lesson (the discriminator's surface moving, the generator's points chasing it, the day it collapses onto
one mode) and Diffusion Explorer's (a learnt field carrying noise to data), on the studio's own engines
(studio/lab/gan.py, flow.py). Handlers are module-level functions of a ``LabContext`` and keyword arguments;
``build_lab_tab`` lays out and wires.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import gradio as gr

from studio.checks import number, whole_number
from studio.device import resolve_seed
from studio.i18n import N_
from studio.lab import live
from studio.lab.figures import frame_image
from studio.lab.gan import LOSSES, GANConfig
from studio.lab.targets import MIN_PER_MODE, TARGETS
from studio.serving import SLICE_S, interleave, serving_of
from studio.ui.common import session_state
from studio.ui.wiring import HEAVY, wired

INTRO = ("Pick a target distribution (or draw one), a model and its settings, and press **Play**: the model trains "
         "here, on this machine, and the picture updates as it learns. **Pause** stops it where it is; **Play** goes "
         "on. A GAN shows its discriminator's surface (red: \"looks real\") and, as arrows, where the generator's loss "
         "pushes its points; a flow shows its samples' paths from noise and the velocity field it learnt. Try "
         "*minimax: watch it collapse*: the generator's points pile onto one or two of the eight modes.")
MAX_STEPS = 20_000  # steps one Play may train
FRAME_SECONDS = 0.85  # Play's default: a picture at least this often, whatever the steps per picture
PICTURE_SHARE = 4  # a picture by the clock only after training this many times as long as the last picture took
HEARTBEAT_S = 2.0  # with pictures further apart than this, Play sends an empty update this often


@dataclass(frozen=True)
class LabContext:
    registry: object  # for the compute gate (studio/serving/gate.py): training shares the machine with the other tabs
    default_model: str | None = None

    @classmethod
    def of(cls, registry, settings=None) -> "LabContext":
        return cls(registry=registry)


def stats_text(trainer, stats: dict, note: str = "", speed: float | None = None) -> str:
    last = stats["last"]
    parts = [N_(f"**Step {stats['steps']}**")]
    if "d_loss" in last:
        parts.append(N_(f"D loss {last['d_loss']:.3f}"))
        parts.append(N_(f"G loss {last['g_loss']:.3f}"))
    elif "loss" in last:
        parts.append(N_(f"loss {last['loss']:.4f}"))
    if "modes_covered" in stats:
        parts.append(N_(f"**modes covered {stats['modes_covered']}/{stats['modes']}**"))
        parts.append(N_(f"**high quality {stats['high_quality']:.1%}**"))
    if speed:
        parts.append(N_(f"{speed:.0f} steps/s"))
    text = " · ".join(parts)
    if "modes_covered" in stats:
        text += "\n\n" + N_(f"Measured as in VEEGAN (Srivastava et al. 2017): 2,500 samples; high quality = within "
                            f"3σ of the nearest mode; a mode is covered with at least {MIN_PER_MODE} high-quality "
                            "samples.")
    return text + (f"\n\n{note}" if note else "")


def picture(trainer, t: float = 1.0):
    """The frame of ``trainer`` now (a PIL image, drawn on its kept figure: the caller holds ``held(trainer)``) and
    its measured figures."""
    # a flow's 2,500 measured samples and the 64 paths drawn come from one ODE solve (two solves: 30 ms more a frame)
    path = (trainer.trajectories(live.N_SAMPLES, steps=live.LIVE_ODE_STEPS) if isinstance(trainer, live.Flow2D)
            else None)
    stats, samples = live.measure(trainer, path)
    return frame_image(trainer, samples, t=float(t), paths=None if path is None else path[:, :64]), stats


def setup(lab, target, drawing, model_kind, loss, lr_g, lr_d, d_steps, batch_size, lr_flow, flow_path, seed):
    if seed is None or (not isinstance(seed, bool) and isinstance(seed, (int, float)) and seed == -1):
        # no seed (or -1): the session's model keeps its own, so Play goes on; a first model draws a fresh one
        seed = lab.config.seed if lab is not None else resolve_seed(None)
    seed = resolve_seed(seed)
    points = live.points_from_drawing(drawing) if target == "drawn" else None
    gan, flow = live.config_of(loss, lr_g, lr_d, d_steps, batch_size, lr_flow, seed, path=flow_path)
    return live.trainer_for(lab, model=model_kind, target=live.target_of(target, points), gan=gan, flow=flow)


# --- handlers -----------------------------------------------------------------------------------------------------

def lab_train(ctx, target="ring of 8", model_kind="GAN", loss="non-saturating", lr_g=GANConfig.lr_g, lr_d=GANConfig.lr_d, d_steps=1,
              batch_size=256, lr_flow=2e-3, flow_path="linear", seed=0, steps=2000, frame_every=100, flow_time=1.0,
              drawing=None, frame_seconds=FRAME_SECONDS, lab=None):
    """Train live, streaming a picture and the measured figures every ``frame_every`` steps, and at least every
    ``frame_seconds`` (a slow machine or a large batch still shows the model moving); goes on from this session's
    trainer when the settings allow (Pause, then Play), else starts a new one. Called bare: the default GAN on the
    ring of 8 Gaussians, 2,000 steps.

    Args:
        target: "ring of 8", "5x5 grid", "two moons", "spiral", "line", or "drawn" (the points of ``drawing``).
        model_kind: "GAN" or "flow matching".
        loss: the GAN's loss: "minimax", "non-saturating", "hinge" or "wgan-gp".
        lr_g: the generator's learning rate.
        lr_d: the discriminator's (critic's) learning rate.
        d_steps: discriminator steps per generator step.
        batch_size: points per training batch.
        lr_flow: the flow model's learning rate.
        flow_path: the flow's noise schedule: "linear" (rectified flow) or "cosine" (variance preserving).
        seed: the seed of the weights, batches and noise (the same seed replays the same training); -1 or none:
            the session's model keeps its own seed (a first model draws a fresh one).
        steps: training steps this call runs (one step: d_steps D updates and one G update; a flow: one update).
        frame_every: steps between two pictures.
        flow_time: the flow's time shown, 0 (noise) to 1 (data).
        drawing: a sketch whose strokes are the target when target is "drawn".
        frame_seconds: a picture at least this often, in seconds, between those every ``frame_every`` steps, and
            the first at once (0: only those; then, with pictures further apart than 2 s, an empty update every 2 s
            keeps the stream alive).
    """
    steps = whole_number("steps", steps, 1, MAX_STEPS)
    frame_every = whole_number("frame_every", frame_every, 1, MAX_STEPS)
    frame_seconds = number("frame_seconds", frame_seconds, 0, 60)
    trainer, note = setup(lab, target, drawing, model_kind, loss, lr_g, lr_d,
                          d_steps, batch_size, lr_flow, flow_path, seed)
    gate = serving_of(ctx.registry).gate
    # steps trained by this Play, and when its last picture was made: with a clock, the first picture comes at once
    # (the model as Play finds it: the click answered within the set-up, not after the first frame_seconds)
    done, shown, start = 0, (-1 if frame_seconds > 0 else 0), trainer.steps
    trainer.pause_requested = False
    # this Play is the trainer's only one: a Play of the same model still running (its client stopped waiting, a
    # second tab of the session) stops at its next step, so two never train one model by turns
    play = trainer.__dict__["_lab_play"] = object()

    def current() -> bool:
        return trainer.__dict__.get("_lab_play") is play and not trainer.pause_requested

    began = last_sent = last_frame = time.perf_counter()
    # seconds this Play spent in its steps since its last picture, and what that picture took (a step's own waits
    # for the gate count: GAN2D.step interleaves; counting CPU time instead gave a storm's Plays no picture at all)
    trained, cost = 0.0, 0.0

    def due() -> bool:  # a picture now: at every frame_every steps of this Play (step-by-step comparable between
        # runs), at its end, and in between when frame_seconds have passed since the last, once the Play has
        # trained PICTURE_SHARE times as long as a picture takes (a Play waiting for the gate behind a class's
        # work spends fewer of its turns on pictures: six Plays trained 10 steps/s in all with the clock alone, 11
        # with this rule, 17 with pictures by steps only; benchmarks/classroom.py --only storm --asks 10)
        return done > shown and (done % frame_every == 0 or done == steps or (
            frame_seconds > 0 and time.perf_counter() - last_frame >= frame_seconds
            and trained >= PICTURE_SHARE * cost))

    while done < steps and current():
        # a slice: at most SLICE_S of training holding the compute gate, then the gate goes to whoever waits (the
        # gate is fair: a student's Generate goes before six Plays) and Pause is seen
        # the model's lock first, then the gate: a slice gives the gate away between its steps (interleave), and a
        # second Play or a step by hand of this model must not take it there and then wait for the model's lock
        # while this slice waits for the gate back (it did: a deadlock of the whole gate)
        with held(trainer), gate.hold(background=True):  # training is background work (ComputeGate)
            until = time.perf_counter() + SLICE_S
            while done < steps and not due() and current():
                began_step = time.perf_counter()
                trainer.step()
                done += 1
                trained += time.perf_counter() - began_step
                if time.perf_counter() >= until:
                    break
                interleave(SLICE_S)  # someone who used the machine less than this Play goes first, at once
        if not current() and trainer.__dict__.get("_lab_play") is not play:
            return  # a newer Play of this model took over: it sends the frames from here
        if not due() and done < steps and current():
            if time.perf_counter() - last_sent >= HEARTBEAT_S:  # no picture due yet, but a page closed meanwhile
                last_sent = time.perf_counter()                # stops the Play here (Gradio resumes a stream only
                yield gr.skip(), gr.skip(), gr.skip()          # for a page that is still there)
            continue
        shown = done
        with held(trainer), gate.hold(background=True):  # the picture is computation too (2,500 samples, a figure)
            drawn_at = time.perf_counter()
            image, stats = picture(trainer, flow_time)
            trained, cost = 0.0, time.perf_counter() - drawn_at
        speed = (trainer.steps - start) / (time.perf_counter() - began) if done else None  # none yet at step 0
        last_sent = last_frame = time.perf_counter()
        yield image, stats_text(trainer, stats, note, speed=speed), trainer


def lab_step(ctx, part="D", target="ring of 8", model_kind="GAN", loss="non-saturating", lr_g=GANConfig.lr_g, lr_d=GANConfig.lr_d,
             d_steps=1,
             batch_size=256, lr_flow=2e-3, flow_path="linear", seed=0, flow_time=1.0, drawing=None, lab=None):
    """One step by hand: one discriminator update ("D") or one generator update ("G") of the GAN, or one training
    step of the flow; the picture after it.

    Args:
        part: "D" or "G" (a GAN); a flow takes one step either way.
        target: as lab_train.
        model_kind: "GAN" or "flow matching".
        loss: the GAN's loss.
        lr_g: the generator's learning rate.
        lr_d: the discriminator's learning rate.
        d_steps: discriminator steps per generator step (Play's; one step here is one update).
        batch_size: points per batch.
        lr_flow: the flow model's learning rate.
        flow_path: the flow's noise schedule: "linear" (rectified flow) or "cosine" (variance preserving).
        seed: the seed.
        flow_time: the flow's time shown.
        drawing: the sketch, when target is "drawn".
    """
    trainer, note = setup(lab, target, drawing, model_kind, loss, lr_g, lr_d,
                          d_steps, batch_size, lr_flow, flow_path, seed)
    with held(trainer), serving_of(ctx.registry).gate:  # as Play's slices (lock, then gate): never inside one
        what = live.one_step(trainer, part)
        image, stats = picture(trainer, flow_time)
    return image, stats_text(trainer, stats, "\n\n".join(x for x in (note, what) if x)), trainer


def lab_reset(ctx, target="ring of 8", model_kind="GAN", loss="non-saturating", lr_g=GANConfig.lr_g, lr_d=GANConfig.lr_d, d_steps=1,
              batch_size=256, lr_flow=2e-3, flow_path="linear", seed=0, flow_time=1.0, drawing=None):
    """A new, untrained model with these settings (step 0) and its picture.

    Args:
        target: as lab_train.
        model_kind: "GAN" or "flow matching".
        loss: the GAN's loss.
        lr_g: the generator's learning rate.
        lr_d: the discriminator's learning rate.
        d_steps: discriminator steps per generator step.
        batch_size: points per batch.
        lr_flow: the flow model's learning rate.
        flow_path: the flow's noise schedule: "linear" (rectified flow) or "cosine" (variance preserving).
        seed: the seed.
        flow_time: the flow's time shown.
        drawing: the sketch, when target is "drawn".
    """
    trainer, _ = setup(None, target, drawing, model_kind, loss, lr_g, lr_d,
                          d_steps, batch_size, lr_flow, flow_path, seed)
    image, stats = picture(trainer, flow_time)
    return image, stats_text(trainer, stats, N_("A new, untrained model.")), trainer


def held(trainer) -> threading.Lock:
    """The trainer's own lock: a chunk of training and a picture of it never interleave (the compute gate may have
    more than one slot)."""
    return trainer.__dict__.setdefault("_lab_lock", threading.Lock())


def lab_pause(ctx, flow_time=1.0, lab=None):
    """Pause: the training stops where it is (also a chunk already running in a worker stops after it), and the
    picture and figures show the model as it now is, not the last frame that happened to arrive."""
    if lab is None:
        return gr.skip(), gr.skip()
    lab.pause_requested = True
    with held(lab):  # waits for a chunk in flight; none starts after it
        image, stats = picture(lab, flow_time)
    return image, stats_text(lab, stats, N_("Paused."))


def lab_view(ctx, flow_time=1.0, lab=None):
    """The picture of this session's trainer at the flow's time ``flow_time`` (nothing trained)."""
    if lab is None:
        return gr.skip(), gr.skip()
    with held(lab):  # the trainer's figure (studio/lab/figures.py: Plane) is drawn by one thread at a time
        image, stats = picture(lab, flow_time)
    return image, stats_text(lab, stats)


def preset_chosen(name):
    p = live.PRESETS.get(name)
    if p is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return p["loss"], p["lr_g"], p["lr_d"], p["d_steps"]


def model_chosen(model_kind):
    return 256 if model_kind == "GAN" else 512


# --- layout -------------------------------------------------------------------------------------------------------

def build_lab_tab(registry, settings) -> None:
    ctx = LabContext.of(registry, settings)
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            target = gr.Dropdown([*TARGETS, "drawn"], value="ring of 8", label="Target", elem_id="lab-target")
            drawing = gr.Sketchpad(type="pil", label="Draw a distribution (used when the target is 'drawn')",
                                   elem_id="lab-drawing", height=240, canvas_size=(240, 240))
            model = gr.Radio(list(live.MODELS), value="GAN", label="Model", elem_id="lab-model")
            preset = gr.Dropdown(list(live.PRESETS), value="non-saturating (default)", label="GAN preset",
                                 elem_id="lab-preset")
            loss = gr.Dropdown(list(LOSSES), value="non-saturating", label="GAN loss", elem_id="lab-loss")
            with gr.Row():
                lr_g = gr.Number(value=GANConfig.lr_g, label="G learning rate", elem_id="lab-lr-g")
                lr_d = gr.Number(value=GANConfig.lr_d, label="D learning rate", elem_id="lab-lr-d")
            d_steps = gr.Slider(1, 10, value=1, step=1, label="D steps per G step", elem_id="lab-d-steps")
            with gr.Row():
                lr_flow = gr.Number(value=2e-3, label="Flow learning rate", elem_id="lab-lr-flow")
                flow_path = gr.Radio(["linear", "cosine"], value="linear", label="Flow noise schedule",
                                     elem_id="lab-flow-path")
            batch = gr.Slider(8, 2048, value=256, step=8, label="Batch size", elem_id="lab-batch")
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="lab-seed")
            with gr.Row():
                steps = gr.Number(value=2000, precision=0, label="Steps per Play", elem_id="lab-steps")
                frame_every = gr.Number(value=100, precision=0, label="Steps per picture", elem_id="lab-frame-every")
                frame_seconds = gr.Number(value=FRAME_SECONDS, minimum=0, maximum=60, label="A picture at least every "
                                          "(s; 0: only by steps)", elem_id="lab-frame-seconds")
        with gr.Column(scale=2):
            with gr.Row():
                play = gr.Button("Play", variant="primary", elem_id="lab-play")
                pause = gr.Button("Pause", elem_id="lab-pause")
                d_btn = gr.Button("One D step", elem_id="lab-d-step")
                g_btn = gr.Button("One G step", elem_id="lab-g-step")
                reset = gr.Button("Reset", elem_id="lab-reset")
            view = gr.Image(label="The plane [-3, 3]²", format="png", elem_id="lab-view", height=520)
            t = gr.Slider(0, 1, value=1, step=0.01, label="Flow: time t along the paths (0 = noise, 1 = data)",
                          elem_id="lab-t")
            stats = gr.Markdown(elem_id="lab-stats")
    lab = session_state()
    config = [target, model, loss, lr_g, lr_d, d_steps, batch, lr_flow, flow_path, seed]
    play_event = play.click(wired(lab_train, ctx), [*config, steps, frame_every, t, drawing, frame_seconds, lab],
                            [view, stats, lab],
                            api_name="lab_train", concurrency_id=HEAVY)
    pause.click(wired(lab_pause, ctx), [t, lab], [view, stats], cancels=[play_event], api_visibility="private")
    d_btn.click(wired(lab_step, ctx), [gr.State("D"), *config, t, drawing, lab], [view, stats, lab],
                api_name="lab_step", concurrency_id=HEAVY)
    g_btn.click(wired(lab_step, ctx), [gr.State("G"), *config, t, drawing, lab], [view, stats, lab],
                api_visibility="private", concurrency_id=HEAVY)
    reset.click(wired(lab_reset, ctx), [*config, t, drawing], [view, stats, lab], api_name="lab_reset",
                concurrency_id=HEAVY)
    t.release(wired(lab_view, ctx), [t, lab], [view, stats], api_visibility="private")
    preset.change(preset_chosen, preset, [loss, lr_g, lr_d, d_steps], api_visibility="private")
    model.change(model_chosen, model, batch, api_visibility="private")
