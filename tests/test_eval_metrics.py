"""Metrics on tiny synthetic cases with known answers."""

import math

import numpy as np
import pytest
import torch

from studio.eval.metrics import bernoulli_neg_elbo, frechet_distance, label_accuracy, nats_per_char
from studio.registry import ModelRegistry, ModelSpec
from studio.text.evaluate import heldout_nats_per_char
from tests.helpers import TINY_TEXT


def test_fd_of_identical_feature_sets_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_fd_of_shifted_means_is_squared_shift():
    feats = np.random.default_rng(1).normal(size=(400, 8))
    shift = np.arange(8) * 0.5
    assert frechet_distance(feats, feats + shift) == pytest.approx((shift ** 2).sum(), rel=1e-9)


def test_fd_matches_closed_form_for_diagonal_gaussians():
    # For diagonal covariances, FD = |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2.
    rng = np.random.default_rng(2)
    z = rng.normal(size=(200_000, 3))
    z = (z - z.mean(0)) / z.std(0, ddof=1)  # exact unit sample variance
    sa, sb = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    a, b = z * sa, z * sb + np.array([1.0, 0.0, -2.0])
    expected = 1.0 + 4.0 + ((sa - sb) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-3)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)  # symmetric


def test_fd_rejects_bad_shapes():
    with pytest.raises(ValueError, match="must be"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_accuracy_of_a_perfect_labeller_is_one():
    labels = torch.arange(10).repeat(7)
    assert label_accuracy(labels.clone(), labels) == 1.0
    half = labels.clone()
    half[::2] = (half[::2] + 1) % 10
    assert label_accuracy(half, labels) == 0.5
    with pytest.raises(ValueError):
        label_accuracy(torch.tensor([]), torch.tensor([]))


def test_neg_elbo_known_values():
    x = torch.full((2, 1, 28, 28), 0.5)
    logits = torch.zeros_like(x)  # p = 0.5 everywhere: ln 2 nats per pixel
    mu, logvar = torch.zeros(2, 4), torch.zeros(2, 4)  # posterior = prior: KL 0
    assert bernoulli_neg_elbo(logits, x, mu, logvar).tolist() == pytest.approx([784 * math.log(2)] * 2, rel=1e-6)
    mu[1] = 1.0  # KL of N(1, 1) from N(0, 1) is 1/2 per dimension
    out = bernoulli_neg_elbo(logits, x, mu, logvar)
    assert (out[1] - out[0]).item() == pytest.approx(4 * 0.5, rel=1e-6)


def test_nats_per_char_of_a_uniform_model_is_ln_v(tiny_text_dir):
    reg = ModelRegistry([ModelSpec(key="t", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm")], device="cpu")
    bundle = reg.get("t")
    with torch.no_grad():
        bundle.model.transformer.wte.weight.zero_()  # tied head: every logit is 0, a uniform model
    text = TINY_TEXT * 3  # 237 characters > context 64: exercises the sliding window
    result = heldout_nats_per_char(bundle, text, window=64, stride=40)
    v = len(bundle.tokenizer)
    assert result["heldout_nats_per_char"] == pytest.approx(math.log(v), rel=1e-5)
    assert result["n_tokens"] == len(text)  # char-level: every character predicted exactly once
    assert nats_per_char(10.0, 4) == 2.5


def test_sliding_window_equals_full_context_when_text_fits(tiny_text_dir):
    reg = ModelRegistry([ModelSpec(key="t", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm")], device="cpu")
    bundle = reg.get("t")
    text = TINY_TEXT[:50]  # 50 chars + start token fits the 64-token context
    ids = torch.tensor([[bundle.tokenizer.eos_token_id] + bundle.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(bundle.model(ids).logits[0, :-1], -1)
    manual = -logp.gather(-1, ids[0, 1:, None]).sum().item() / len(text)
    assert heldout_nats_per_char(bundle, text)["heldout_nats_per_char"] == pytest.approx(manual, rel=1e-5)
    # A shorter window changes the context, but every character is still counted once.
    short = heldout_nats_per_char(bundle, text, window=16, stride=8)
    assert short["n_tokens"] == len(text)
