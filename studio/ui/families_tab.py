"""The Families tab: the generative families side by side on one task (studio/families.py), the lesson no single-
family tool can show: every family trades fidelity for diversity, each with its own knob."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio import families
from studio.i18n import N_, T_, translate
from studio.plots import figure_to_image, image_grid, new_figure
from studio.ui.common import judge_key
from studio.ui.wiring import HEAVY, wired

INTRO = ("The same digit and the same seed through every family: a VAE's prior samples (it cannot be asked for a "
         "digit), the GAN, the pixel DDPM at the number of network evaluations you choose, and the text-to-image "
         "model with a caption. One judge rates them all. The chart below turns each family's own diversity knob.")


@dataclass(frozen=True)
class FamiliesContext:
    registry: object
    judge_key: str | None
    default_model: str | None = None

    @classmethod
    def of(cls, registry, settings=None) -> "FamiliesContext":
        return cls(registry=registry, judge_key=judge_key(registry))


def table(rows: list[dict]) -> str:
    lines = [N_("| family | model | asked | judge accuracy | confidence | diversity (vs real) | NFE | wall time | FD ratio |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = "—" if r["judge_accuracy"] is None else f"{r['judge_accuracy']:.0%}"
        fd = "—" if r["fd_ratio"] is None else f"{r['fd_ratio']:.2f}"
        rel = "" if r["diversity_vs_real"] is None else f" ({r['diversity_vs_real']:.2f}×)"
        family, asked, conf, seconds = translate(r["family"]), translate(r["asked"]), r["confidence"], r["seconds"]
        lines.append(N_(f"| {family} | `{r['model']}` | {asked} | {acc} | {conf:.0%} | {r['diversity']:.3f}{rel} | "
                        f"{r['nfe']} | {seconds:.2f} s | {fd} |"))
    return "\n".join(lines)


def families_compare(ctx, digit="7", seed=0, samples=8, nfe=10, caption=""):
    """The same digit and seed through every family with a built-in model (VAE prior, GAN, pixel DDPM, text to
    image), each judged: a strip of pictures per family and a table of judge accuracy, confidence, diversity (and
    relative to real digits), NFE, wall time and the checkpoint's FD ratio. Answers with no arguments.

    Args:
        digit: "0".."9", or "any".
        seed: the seed every family draws from; -1 draws a fresh one.
        samples: pictures per family (2..64).
        nfe: network evaluations per picture the diffusion models may spend (with guidance, half as many steps).
        caption: the text-to-image prompt; empty = the digit's caption ("a seven"; with "any", each picture's own).

    Returns one picture strip per family (VAE prior, GAN, pixel DDPM, text to image; None where no built-in model
    of that family is installed) and the table.
    """
    if not ctx.judge_key:
        raise ValueError("No digit judge is installed: the families cannot be rated.")
    rows = families.compare(ctx.registry, digit=digit, seed=seed, n=samples, nfe=nfe, text=caption or None,
                            judge_key=ctx.judge_key)  # (the wiring holds the compute gate: gpu=True)
    strips = {r["family"]: image_grid(r["images"], min(8, len(r["images"])), scale=3) for r in rows}
    note = N_("Diversity: mean RMS pixel difference between pairs of pictures; in brackets, over that of as many real "
              "held-out digits (of every class for the VAE, which samples them all). A VAE is not asked for a digit, "
              "so it has no accuracy; with digit “any” each other family's picture is judged against its own digit.")
    return (*(strips.get(f) for f in families.FAMILIES), table(rows) + "\n\n" + note)


def knobs_figure(curves: dict):
    fig = new_figure(figsize=(3.0 * max(1, len(curves)), 2.9), layout="constrained")
    top = max((max(c["diversity"]) for c in curves.values()), default=1.0) * 1.08  # one diversity scale for all
    for i, (family, c) in enumerate(curves.items()):
        ax = fig.add_subplot(1, len(curves), i + 1)
        ax.plot(c["values"], c["fidelity"], marker="o", color="#c0392b", label=T_("fidelity"))
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(T_(c["knob"]), fontsize=8)
        ax.set_title(T_(family), fontsize=9)
        ax.tick_params(labelsize=7)
        twin = ax.twinx()
        twin.plot(c["values"], c["diversity"], marker="s", color="#2980b9", label=T_("diversity"))
        twin.set_ylim(0, top)
        twin.tick_params(labelsize=7, colors="#2980b9")
        if i == 0:
            ax.set_ylabel(T_("judge's confidence in the digit"), fontsize=8, color="#c0392b")
            lines = ax.get_lines() + twin.get_lines()
            ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="lower left")
    return fig


def families_knobs(ctx, digit="7", seed=0, samples=32, nfe=10):
    """Each family's diversity knob against fidelity (the judge's confidence in the digit asked) and diversity,
    from the same seeds: VAE prior scale, GAN truncation ψ, pixel DDPM guidance w and DDIM η, text-to-image
    guidance w.

    Args:
        digit: "0".."9", or "any".
        seed: the seed; -1 draws a fresh one.
        samples: pictures per knob value (4..128).
        nfe: network evaluations per picture the diffusion models may spend.
    """
    if not ctx.judge_key:
        raise ValueError("No digit judge is installed: the families cannot be rated.")
    curves = families.knob_curves(ctx.registry, digit=digit, seed=seed, n=samples, nfe=nfe, judge_key=ctx.judge_key)
    lines = []
    for f, c in curves.items():
        family, knob = translate(f), translate(c["knob"])
        lines.append(N_(f"**{family}**: {knob} {c['values'][0]:g} → {c['values'][-1]:g}: fidelity {c['fidelity'][0]:.0%} "
                        f"→ {c['fidelity'][-1]:.0%}, diversity {c['diversity'][0]:.3f} → {c['diversity'][-1]:.3f}"))
    return figure_to_image(knobs_figure(curves)), "\n\n".join(lines)


def build_families_tab(registry, settings) -> None:
    ctx = FamiliesContext.of(registry, settings)
    gr.Markdown(INTRO)
    with gr.Row():
        digit = gr.Dropdown(["any", *map(str, range(10))], value="7", label="Digit", elem_id="fam-digit")
        seed = gr.Number(value=0, precision=0, label="Seed", elem_id="fam-seed")
        samples = gr.Slider(2, 32, value=8, step=1, label="Pictures per family", elem_id="fam-samples")
        nfe = gr.Slider(1, 100, value=10, step=1, label="Diffusion: network evaluations per picture (NFE)",
                        elem_id="fam-nfe")
        caption = gr.Textbox(value="", label="Text-to-image caption (empty: the digit's)", elem_id="fam-caption")
    run_btn = gr.Button("Compare the families", variant="primary", elem_id="fam-run")
    # One picture per family, each at its own width and height: in a gallery every strip sat centred in a square
    # cell as wide as the page, so most of what a user saw was blank (a strip of 8 digits is 8:1).
    strips = [gr.Image(label=f, format="png", interactive=False, show_label=True, elem_id=f"fam-row-{i}",
                       elem_classes="fam-row") for i, f in enumerate(families.FAMILIES)]
    figures = gr.Markdown(elem_id="fam-table")
    with gr.Accordion("Each family's diversity knob: fidelity against diversity", open=True):
        with gr.Row():
            knob_samples = gr.Slider(4, 64, value=32, step=4, label="Pictures per knob value", elem_id="fam-knob-samples")
            knobs_btn = gr.Button("Turn the knobs", elem_id="fam-knobs")
        chart = gr.Image(label="Fidelity (red) and diversity (blue) as each knob turns", format="png",
                         elem_id="fam-chart")
        knobs_note = gr.Markdown(elem_id="fam-knobs-note")
    run_btn.click(wired(families_compare, ctx, gpu=True, replay=True), [digit, seed, samples, nfe, caption],
                  [*strips, figures], api_name="families_compare", concurrency_id=HEAVY)
    knobs_btn.click(wired(families_knobs, ctx, gpu=True, replay=True), [digit, seed, knob_samples, nfe],
                    [chart, knobs_note], api_name="families_knobs", concurrency_id=HEAVY)
