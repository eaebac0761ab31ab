"""Inside the model: attention weights against ``output_attentions=True`` on an eager copy, the logit lens against
a hand computation, and GLTR-style scoring against one forward pass per token; on GPT-2 and on a Llama."""

import math

import pytest
import torch

from studio.registry import ModelRegistry, ModelSpec
from studio.text import inside, score


def save_tiny_llama(folder):
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.helpers import save_tiny_text_model

    save_tiny_text_model(folder)  # for its tokenizer files; the model is replaced by a Llama
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=33, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                         bos_token_id=32, eos_token_id=32, pad_token_id=32))
    for name in ("model.safetensors", "config.json", "generation_config.json"):
        (folder / name).unlink(missing_ok=True)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def bundle(request, tiny_text_dir, tmp_path_factory):
    folder = tiny_text_dir if request.param == "gpt2" else save_tiny_llama(tmp_path_factory.mktemp("llama") / "m")
    reg = ModelRegistry([ModelSpec(key="t", family="text", source=str(folder), loader="transformers-causal-lm")],
                        device="cpu")
    b = reg.get("t")
    torch.manual_seed(1)
    with torch.no_grad():  # larger random weights, so attention and predictions are far from flat
        for name, p in b.model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.5)
            else:  # norm gains and biases away from 1 and 0, so a norm applied twice shows
                p.uniform_(0.5, 1.5)
    return b


def ids_of(bundle, text="hello world, to be or not"):
    return bundle.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_attention_weights_are_the_models_own(bundle):
    from transformers import AutoModelForCausalLM

    ids = ids_of(bundle)
    assert bundle.model.config._attn_implementation == "sdpa"  # what transformers loads by default
    got = inside.attention(bundle, ids)
    assert bundle.model.config._attn_implementation == "sdpa"  # switched back after the one pass
    assert "eager attention" in got["how"] and got["implementation"] == "sdpa"
    eager = AutoModelForCausalLM.from_pretrained(bundle.model.name_or_path, attn_implementation="eager")
    eager.load_state_dict(bundle.model.state_dict())
    with torch.no_grad():
        ref = eager(torch.tensor([ids]), output_attentions=True).attentions
    assert got["layers"] == len(ref) and got["heads"] == ref[0].shape[1]
    for layer, a in enumerate(ref):
        assert torch.allclose(torch.tensor(got["weights"][layer]), a[0, :, -1, :], atol=1e-6)
    rows = torch.tensor(got["weights"])  # (L, H, T)
    assert torch.allclose(rows.sum(-1), torch.ones(rows.shape[:2]), atol=1e-5)
    assert rows.std(-1).max() > 0.01, "the attention is uniform: the test would not see a wrong row"
    assert got["tokens"] == [bundle.tokenizer.decode([i]) for i in ids]


def lens_by_hand(bundle, ids, layer):
    """The residual stream after ``layer`` blocks, run block by block, through the final norm and unembedding."""
    m = bundle.model
    x = torch.tensor([ids])
    with torch.no_grad():
        if hasattr(m, "transformer"):  # GPT-2: token + position embeddings, blocks, ln_f, tied wte
            h = m.transformer.wte(x) + m.transformer.wpe(torch.arange(len(ids))[None])
            for block in m.transformer.h[:layer]:
                h = block(h)[0] if isinstance(block(h), tuple) else block(h)
            normed = torch.nn.functional.layer_norm(h, h.shape[-1:], m.transformer.ln_f.weight,
                                                    m.transformer.ln_f.bias, m.transformer.ln_f.eps)
            return normed @ m.transformer.wte.weight.T
        out = m(x, output_hidden_states=True)  # Llama: hidden_states[layer] is the stream after `layer` blocks
        h = out.hidden_states[layer]
        if layer == len(m.model.layers):
            return out.logits  # already through the norm
        w, eps = m.model.norm.weight, m.model.norm.variance_epsilon
        normed = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * w
        return normed @ m.lm_head.weight.T


def test_logit_lens_against_a_hand_computation_and_the_models_logits(bundle):
    ids = ids_of(bundle)
    lens = inside.logit_lens(bundle, ids, positions=4, top=3)
    n_layers = bundle.model.config.num_hidden_layers
    assert lens["layers"] == ["embedding", *[f"layer {k}" for k in range(1, n_layers + 1)]]
    assert lens["positions"] == list(range(len(ids) - 4, len(ids)))
    with torch.no_grad():
        model_logits = bundle.model(torch.tensor([ids])).logits[0, -1]
    assert torch.allclose(torch.tensor(lens["logits_last"]), model_logits, atol=1e-4)  # the last layer = the model
    targets = ids[len(ids) - 3:] + [int(model_logits.argmax())]
    assert lens["targets"] == targets
    for layer in range(n_layers + 1):
        probs = torch.softmax(lens_by_hand(bundle, ids, layer)[0, -4:], -1)  # (4, V)
        for j in range(4):
            p = probs[j]
            assert lens["target_prob"][layer][j] == pytest.approx(float(p[targets[j]]), abs=1e-5)
            assert lens["rank"][layer][j] == int((p > p[targets[j]]).sum()) + 1
            assert [t for t, _ in lens["top"][layer][j]] == [bundle.tokenizer.decode([i]) for i in p.topk(3).indices]
    assert lens["rank"][-1][-1] == 1  # the model's own top token, at the last layer
    assert len({tuple(r) for r in lens["rank"]}) > 1, "every layer ranks alike: the test would not see a wrong layer"


@pytest.mark.parametrize("stride", [16, "W - 1"])
def test_score_is_one_forward_pass_per_token_and_slides_past_the_context(bundle, stride):
    text = "to be or not to be, that is the question " * 4  # > 64 tokens, the tiny context
    W = bundle.context_length
    s = W - 1 if stride == "W - 1" else stride
    out = score.score(bundle, text, stride=s)
    ids = [bundle.tokenizer.bos_token_id] + ids_of(bundle, text)
    assert len(ids) > W and out["windows"] > 1 and out["scored"] == len(ids) - 1
    for t in range(1, len(ids)):
        k = max(0, math.ceil((t - W + 1) / s))  # the first window (start k·s, length W) that reaches t
        with torch.no_grad():
            lp = torch.log_softmax(bundle.model(torch.tensor([ids[k * s:t]])).logits[0, -1].float(), -1)
        tok = out["tokens"][t - 1]
        assert tok["surprisal"] == pytest.approx(-float(lp[ids[t]]), abs=1e-4)
        assert tok["rank"] == int((lp > lp[ids[t]]).sum()) + 1
        assert tok["bucket"] == score.bucket(tok["rank"])
    mean = sum(t["surprisal"] for t in out["tokens"]) / out["scored"]
    assert out["perplexity"] == pytest.approx(math.exp(mean), rel=1e-6)
    assert sum(out["histogram"].values()) == out["scored"]


@pytest.mark.parametrize("stride", [0, 64, 65, 2.5])
def test_a_stride_not_below_the_context_is_refused(bundle, stride):
    assert bundle.context_length == 64
    with pytest.raises(ValueError, match=r"stride must be a whole number in \[1, 63\]"):
        score.score(bundle, "to be or not to be, that is the question " * 4, stride=stride)


def test_gltr_buckets():
    assert [score.bucket(r) for r in (1, 10, 11, 100, 101, 1000, 1001)] == [
        "top 10", "top 10", "top 100", "top 100", "top 1000", "top 1000", "beyond"]


@pytest.mark.parametrize("call, msg", [
    (lambda b: score.score(b, ""), "Paste or type a passage to score"),
    (lambda b: score.score(b, "to be " * 50, max_tokens=20), r"The passage is \d+ tokens; at most 20 are scored here"),
    (lambda b: inside.attention(b, []), "There is no context to look inside"),
    (lambda b: inside.logit_lens(b, [10 ** 6]), "ids that are not tokens of this model"),
])
def test_bad_input_is_named(bundle, call, msg):
    with pytest.raises(ValueError, match=msg):
        call(bundle)


def test_a_model_without_attention_weights_says_so(bundle, monkeypatch):
    monkeypatch.setattr(type(bundle.model), "set_attn_implementation",
                        lambda self, impl: (_ for _ in ()).throw(ValueError(f"{impl} is not supported")))
    with pytest.raises(inside.NoAttentionWeights, match="gives no attention weights"):
        inside.attention(bundle, ids_of(bundle))


def test_gltr_ranks_and_buckets_on_a_vocabulary_of_thousands(tmp_path):
    """On a 3,000-token vocabulary every GLTR bucket occurs: each token's rank is its place in the model's sorted
    prediction (torch.argsort of the logits of one forward pass over the whole passage), the buckets are GLTR's
    (≤ 10, ≤ 100, ≤ 1000, beyond), and tokens the model picked greedily itself rank 1."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    chars = [chr(0x4E00 + i) for i in range(3000)]
    vocab = {c: i for i, c in enumerate(chars)} | {"<|endoftext|>": 3000}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    torch.manual_seed(0)  # test fixture: weight init
    config = GPT2Config(vocab_size=3001, n_positions=256, n_embd=32, n_layer=1, n_head=2, bos_token_id=3000,
                        eos_token_id=3000)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20)  # predictions far from flat
    model.save_pretrained(tmp_path)
    fast.save_pretrained(tmp_path)
    bundle = ModelRegistry([ModelSpec(key="big-vocab", family="text", source=str(tmp_path),
                                      loader="transformers-causal-lm")], device="cpu").get("big-vocab")

    g = torch.Generator().manual_seed(1)
    ids = [3000] + torch.randint(0, 3000, (150,), generator=g).tolist()
    with torch.no_grad():
        for _ in range(12):  # the model's own greedy continuation: rank 1 each
            ids.append(int(bundle.model(torch.tensor([ids])).logits[0, -1, :3000].argmax()))
    text = "".join(chars[i] for i in ids[1:])
    out = score.score(bundle, text, max_tokens=200)
    with torch.no_grad():
        logits = bundle.model(torch.tensor([ids])).logits[0]
    order = torch.argsort(logits[:-1], dim=-1, descending=True)
    expected = [int((order[j] == ids[j + 1]).nonzero()) + 1 for j in range(len(ids) - 1)]
    assert [t["rank"] for t in out["tokens"]] == expected
    assert expected[-12:] == [1] * 12
    gltr = {"top 10": sum(r <= 10 for r in expected), "top 100": sum(10 < r <= 100 for r in expected),
            "top 1000": sum(100 < r <= 1000 for r in expected), "beyond": sum(r > 1000 for r in expected)}
    assert out["histogram"] == gltr and min(gltr.values()) > 0, gltr
