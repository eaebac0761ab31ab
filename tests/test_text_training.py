"""The text model's training command: a first phase and a continuation, at a tiny size.

What the shipped card relies on: the folder loads as a transformers causal LM, phases.json lists every phase in
order with its command, each phase's curve is kept (training_log.json for the last, training_log_phase<N>.json
for the earlier ones), and the card reports the held-out figure that the evaluation harness measures.
"""

from __future__ import annotations

import json

import pytest

from studio.data import default_data_dir, have, missing_reason

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not have("shakespeare"), reason=missing_reason("shakespeare"))]

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "4",
        "--warmup", "1", "--eval-every", "2", "--device", "cpu"]


def test_two_phases_keep_both_curves_and_the_card_reports_the_measured_figure(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.catalog import read_card_metadata
    from studio.text import train
    from studio.text.evaluate import heldout_nats_per_char
    from studio.text.loader import TextBundle

    out = tmp_path / "gpt"
    data = ["--data", str(default_data_dir())]
    train.main([*data, "--out", str(out), "--steps", "4", *TINY])
    first_log = json.loads((out / "training_log.json").read_text())
    assert [row["step"] for row in first_log["evaluations"]] == [0, 2, 4]
    assert len(first_log["step_losses"]) == 4
    assert not list(out.glob("training_log_phase*.json"))

    train.main([*data, "--out", str(out), "--init-from", str(out), "--steps", "2", "--lr", "1e-4", *TINY])
    phases = json.loads((out / "phases.json").read_text())
    assert [ph["steps"] for ph in phases] == [4, 2]
    assert phases[1]["lr"] == pytest.approx(1e-4)
    assert json.loads((out / "training_log_phase1.json").read_text()) == first_log  # phase 1's curve kept
    assert [row["step"] for row in json.loads((out / "training_log.json").read_text())["evaluations"]] == [0, 2]

    card = (out / "README.md").read_text()
    meta = read_card_metadata(out)
    assert meta["studio"]["key"] == "shakespeare-gpt" and meta["studio"]["family"] == "text"
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert model.config.n_layer == 1 and len(tok) == 1024
    from studio.data import load_shakespeare

    full = heldout_nats_per_char(TextBundle(model=model, tokenizer=tok, generation_config=model.generation_config,
                                            context_length=32), load_shakespeare("heldout", default_data_dir()))
    assert f"**{full['heldout_nats_per_char']:.3f} nats/char**" in card
    assert "| 1 |" in card and "| 2 |" in card  # both phases in the card's table
