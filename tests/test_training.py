"""studio/training.py: the start every training command shares (its arguments, its logging), and that each
trainer's own flags keep their names, types and defaults through it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from studio import training


def test_a_command_takes_data_out_seed_and_its_flags_typed_by_their_defaults(tmp_path):
    p = training.command("doc", out=tmp_path / "out", seed=7, batch_size=64, lr=(1e-3, "learning rate"),
                         device="auto")
    args = training.parse(p, ["--lr", "0.5", "--batch-size", "3"])
    assert (args.out, args.seed, args.batch_size, args.lr, args.device) == (tmp_path / "out", 7, 3, 0.5, "auto")
    assert isinstance(args.data, Path)
    assert "learning rate" in p.format_help()
    with pytest.raises(SystemExit):
        training.parse(p, ["--batch-size", "1.5"])  # an int flag refuses a fraction


@pytest.mark.parametrize("module, expected", [
    ("studio.diffusion.train", {"steps": 2400, "batch_size": 128, "lr": 1e-3, "p_uncond": 0.1, "save_every": 200,
                                "seed": 0, "schedule": "constant", "report": False}),
    ("studio.gan.train", {"epochs": 20, "batch_size": 64, "lr": 2e-4, "beta1": 0.5, "z_dim": 64,
                          "real_label": 0.9, "device": "auto"}),
    ("studio.vae.train", {"latent_dim": 16, "out": None, "epochs": 40, "warmup_epochs": 5, "hidden": 256}),
    ("studio.eval.train_judge", {"epochs": 12, "batch_size": 128, "lr": 3e-3}),
    ("studio.diffusion.text_to_image.train", {"vae_steps": 3000, "kl": 1e-6, "steps": 10000, "min_lr_frac": 0.05,
                                              "text_layers": 2, "save_every": 500, "max_minutes": 0.0}),
])
def test_each_trainer_keeps_its_flags(module, expected, monkeypatch):
    """The defaults the checkpoints' cards were trained with (their training.json), read back from each command."""
    seen = {}

    def read_and_stop(p, argv=None):  # the parsed defaults, and no training
        seen["args"] = p.parse_args([])
        raise SystemExit(0)

    monkeypatch.setattr(training, "parse", read_and_stop)
    with pytest.raises(SystemExit):
        importlib.import_module(module).main([])
    got = vars(seen["args"])
    assert {k: got[k] for k in expected} == expected
