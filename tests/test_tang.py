"""The Chinese built-in model's pieces: its corpus split and script, its tokenizer (characters with byte fallback),
the form-accuracy measure, the bigram baseline, and the eval harness naming the corpus. All on a tiny corpus the
test writes in the corpus's own format (the real one is fetched, not shipped)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.helpers import TINY_POEMS, save_tiny_poem_model, write_tiny_tang_corpus


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_tiny_tang_corpus(folder)
    return folder


def test_split_holds_out_every_tenth_poem_and_converts_to_simplified(data_dir, tmp_path):
    from studio.data import load_tang

    train, held = load_tang("train", data_dir), load_tang("heldout", data_dir)
    assert len(train) == 90 and len(held) == 10
    assert held == [TINY_POEMS[9]] * 10  # poem i is held out when i % 10 == 9
    assert all(p.endswith("\n\n") for p in train)
    # traditional characters as distributed are converted by OpenCC (t2s), or kept on request
    (tmp_path / "tang-poems").mkdir()
    (tmp_path / "tang-poems" / "tang-poems.jsonl").write_text(json.dumps(
        {"title": "春望", "author": "杜甫", "paragraphs": ["國破山河在，城春草木深。", "感時花濺淚，恨別鳥驚心。"]},
        ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_tang("all", tmp_path) == ["国破山河在，城春草木深。\n感时花溅泪，恨别鸟惊心。\n\n"]
    assert load_tang("all", tmp_path, script="traditional")[0].startswith("國破山河在")
    with pytest.raises(ValueError, match="script"):
        load_tang("all", tmp_path, script="cantonese")


def test_tokenizer_is_one_token_a_character_with_bytes_for_the_rest():
    from studio.text.corpora import characters_with_byte_fallback

    text = "".join(TINY_POEMS)
    tok = characters_with_byte_fallback(text, min_count=2)
    frequent = "".join(c for c in "白日依山尽，" if text.count(c) >= 2)
    assert frequent == "白日山尽，"
    assert tok.convert_ids_to_tokens(tok(frequent)["input_ids"]) == list(frequent)  # one token a character
    once = next(c for c in text if text.count(c) == 1)
    assert tok.convert_ids_to_tokens(tok(once)["input_ids"]) == [f"<0x{b:02X}>" for b in once.encode()]
    for s in ["床前明月光，\n疑是地上霜。", "Hello, café 🙂 𠀀!", once]:  # any text encodes and decodes back
        assert tok.decode(tok(s)["input_ids"]) == s
    assert tok.eos_token_id == 0 and len(tok) == 257 + sum(1 for c in set(text) if text.count(c) >= 2)
    again = characters_with_byte_fallback(text, min_count=2)
    assert again.get_vocab() == tok.get_vocab()  # deterministic


def test_half_lines_and_complete_lines():
    from studio.text.poems import complete_lines, form_prompts, half_line_lengths

    assert half_line_lengths("朝辞白帝彩云间，千里江陵一日还。") == [7, 7]
    assert half_line_lengths("长相思，在长安，络纬秋啼金井阑。") == [3, 3, 7]
    # the poem ends at a blank line; a last line the budget cut off is not counted, a finished one is
    assert complete_lines("\n一二三四五，一二三四五。\n一二三\n\n六七八", hit_budget=False) == ["一二三四五，一二三四五。", "一二三"]
    assert complete_lines("\n一二三四五，一二三四五。\n一二三", hit_budget=True) == ["一二三四五，一二三四五。"]
    assert complete_lines("\n一二三四五，一二三四五。\n一二", hit_budget=False) == ["一二三四五，一二三四五。", "一二"]
    assert complete_lines("\n\n一二三四五，一二三四五。\n", hit_budget=True) == []  # the poem ended at once: a new one
    assert complete_lines("一二三四五。\n", hit_budget=True) == ["一二三四五。"]  # the prompt's line completed
    poems = ["长相思，在长安，络纬秋啼金井阑。\n\n", "红豆生南国，春来发几枝。\n愿君多采撷\n\n", "一二三四五六，一二三四五六。\n\n"]
    assert form_prompts(poems) == [("红豆生南国，春来发几枝。", 5)]


class OneLineModel(torch.nn.Module):
    """Always writes ``line`` then a blank line: a model with a known form."""

    def __init__(self, tok, line):
        super().__init__()
        self.ids = tok(line + "\n\n")["input_ids"]
        self.vocab = len(tok)
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids=None, past_key_values=None, use_cache=False, **_):
        from types import SimpleNamespace

        n = past_key_values or 0
        step = self.ids[min(n, len(self.ids) - 1)]
        logits = torch.full((1, input_ids.shape[1], self.vocab), -30.0)
        logits[0, -1, step] = 30.0
        return SimpleNamespace(logits=logits, past_key_values=n + 1)


@pytest.mark.parametrize("line, expected", [("一声山鸟曙，半夜雨声来。", 1.0), ("一声山鸟，半夜雨声来。", 0.0)])
def test_form_accuracy_counts_lines_with_the_prompts_half_line_length(line, expected):
    from studio.text.corpora import characters_with_byte_fallback
    from studio.text.loader import TextBundle
    from studio.text.poems import form_accuracy

    tok = characters_with_byte_fallback("".join(TINY_POEMS) + line, min_count=1)
    bundle = TextBundle(model=OneLineModel(tok, "\n" + line), tokenizer=tok, generation_config=None,
                        context_length=64)
    result = form_accuracy(bundle, [("红豆生南国，春来发几枝。", 5)] * 2,
                           settings={"mode": "greedy", "max_new_tokens": 30})
    assert result["lines"] == 2 and result["form_accuracy"] == expected


def test_bigram_is_normalised_and_scores_what_its_counts_say():
    from studio.text.evaluate import heldout_nats_per_char
    from studio.text.loader import TextBundle
    from studio.text.poems import BigramLM

    ids = torch.tensor([1, 2, 1, 2, 1, 3, 1, 2])
    lm = BigramLM(ids, 4)
    assert lm.table.exp().sum(1) == pytest.approx(torch.ones(4), abs=1e-5)
    # after 1: followers 2 (3 times) and 3 (once); Witten-Bell λ = 4 / (4 + 2); unigram add-one (c + 1) / (8 + 4)
    lam, uni = 4 / 6, torch.tensor([1, 5, 4, 2]) / 12
    assert lm.table[1, 2].exp().item() == pytest.approx(lam * 3 / 4 + (1 - lam) * uni[2].item(), rel=1e-5)
    assert lm.table[0].exp() == pytest.approx(uni.float(), abs=1e-6)  # never seen as a context: the unigram

    class Tok:  # ids are their own text; start token 0
        bos_token_id = eos_token_id = 0

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [int(c) for c in text]}

    score = heldout_nats_per_char(TextBundle(model=lm, tokenizer=Tok(), generation_config=None, context_length=8),
                                  "121")
    want = -(lm.table[0, 1] + lm.table[1, 2] + lm.table[2, 1]).item() / 3
    assert score["heldout_nats_per_char"] == pytest.approx(want, rel=1e-5)


def test_eval_harness_measures_a_tang_checkpoint_on_its_corpus(data_dir, tmp_path):
    from studio.eval.runner import run
    from studio.registry import ModelRegistry, ModelSpec

    folder = save_tiny_poem_model(tmp_path / "tiny-poems")
    reg = ModelRegistry([ModelSpec(key="tiny-poems", family="text", source=str(folder),
                                   loader="transformers-causal-lm", builtin=True)], device="cpu")
    results, missing = run(["text"], reg, data_dir=data_dir, write=True)
    got = results["tiny-poems"]
    assert got["settings"]["corpus"] == "tang" and not missing
    assert got["settings"]["form"]["prompts"] == 10  # every held-out poem of the tiny corpus qualifies
    assert 0 <= got["form_accuracy"] <= 1 and 0 <= got["bigram_form_accuracy"] <= 1
    # an untrained model scores about what a uniform guess over its tokens does (the held-out poem of the tiny
    # corpus is never in training, so the bigram has little to go on there)
    assert got["heldout_nats_per_char"] == pytest.approx(math.log(len(reg.get("tiny-poems").tokenizer)), abs=0.5)
    assert got["bigram_heldout_nats_per_char"] > 0
    assert json.loads((folder / "eval.json").read_text())["form_accuracy"] == got["form_accuracy"]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"| **{got['form_accuracy']:.3f}** | {got['bigram_form_accuracy']:.3f} |" in card
    run(["text"], reg, data_dir=data_dir, write=True)  # a second run replaces its section, not adds one
    assert (folder / "README.md").read_text(encoding="utf-8").count("eval harness: start") == 1
