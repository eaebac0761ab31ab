"""The text corpora the built-in language models are trained and measured on, and the tokenizer each one gets.

* ``shakespeare``: Tiny Shakespeare; a byte-level BPE tokenizer of 1,024 tokens (word pieces, as GPT-2's).
* ``tang``: the Tang poems (全唐诗) in simplified characters; one token per character for every character seen
  at least ``min_count`` times in training, and UTF-8 bytes (``<0xE5>`` …) for any other text.

Why characters for Chinese rather than BPE: a Chinese character is already a unit of meaning (a morpheme, usually a
word in classical poetry), and the poems' form, five or seven characters a half-line, is counted in characters:
with one token per character the Text tab's token view, its per-stage bars and the attention maps show exactly the
units a student counts, and a temperature or top-p filter acts on the choice of the next character. BPE would merge
frequent pairs (明月, 故人) into tokens, hiding the form the lesson is about. The byte fallback (as in Llama's and
Qwen's tokenizers, ``tokenizers``' ``byte_fallback``) means any text still encodes: a rare character, an English
word, an emoji become their bytes; characters seen fewer than ``min_count`` times are written as bytes in training
too, so the byte tokens are learnt and the held-out figure charges an unseen character what spelling it costs.

Why simplified characters: the Chinese page is zh-CN; its students read and type simplified characters, and a
prompt typed in simplified characters on a model of traditional ones would fall back to bytes for every
character that differs. The corpus is distributed in traditional characters; OpenCC's ``t2s`` converts it (a
library made for it: phrase-aware, so 乾坤 stays 乾 while 乾燥 becomes 干). ``--script traditional`` keeps them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

EOT = "<|endoftext|>"


@dataclass(frozen=True)
class Corpus:
    name: str  # the eval output names it
    key: str  # the checkpoint it trains by default
    title: str  # for the card
    split: str  # for the card and the eval output
    prompt: str  # the card's sample starts here
    tags: tuple[str, ...]


CORPORA = {
    "shakespeare": Corpus("shakespeare", "shakespeare-gpt", "Tiny Shakespeare",
                          "the first 90% of the characters train, the last 10% are held out", "ROMEO:",
                          ("shakespeare", "english")),
    "tang": Corpus("tang", "tang-gpt", "the Tang poems (全唐诗)",
                   "poem i (file order) is held out when i mod 10 = 9 (5,760 poems), the other 51,847 train; a poem "
                   "is its lines joined by newlines and followed by a blank line", "床前明月光，",
                   ("chinese", "poetry", "tang-poems")),
}


def card_field(spec, name: str, default=None):
    """A field of a built-in checkpoint's ``studio:`` card block (``corpus``, ``language``); ``default`` for a Hub
    model or a card without it."""
    from pathlib import Path

    from studio.loading import read_card_metadata

    if not spec.builtin:
        return default
    try:
        return read_card_metadata(Path(spec.source)).get("studio", {}).get(name, default)
    except (OSError, ValueError):
        return default


def corpus_text(name: str, split: str, data_dir=None, *, script: str = "simplified") -> str:
    """The text of a corpus split, as trained on and scored."""
    from studio import data

    if name == "shakespeare":
        return data.load_shakespeare(split, data_dir)
    if name == "tang":
        return "".join(data.load_tang(split, data_dir, script=script))
    raise ValueError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")


def byte_level_bpe(text: str, vocab_size: int):
    """A GPT-2-style byte-level BPE tokenizer trained on ``text``; ``<|endoftext|>`` is id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([text], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=None,
                                   model_max_length=None, clean_up_tokenization_spaces=False)


def characters_with_byte_fallback(text: str, min_count: int = 3):
    """One token per character seen at least ``min_count`` times in ``text`` (most frequent first), the 256 byte
    tokens ``<0x00>`` … ``<0xFF>`` for everything else, ``<|endoftext|>`` = 0. A ``tokenizers`` BPE model with no
    merges and ``byte_fallback``: deterministic for the same text and ``min_count``."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    counts = Counter(text)
    vocab = {EOT: 0}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for char in sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c)):
        vocab.setdefault(char, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True, unk_token=None))
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=None,
                                   model_max_length=None, clean_up_tokenization_spaces=False)


def tokenizer_for(name: str, text: str, *, vocab_size: int = 1024, min_count: int = 3):
    return byte_level_bpe(text, vocab_size) if name == "shakespeare" else characters_with_byte_fallback(text, min_count)
