"""Tokens as text: what one token reads as, a run of tokens read in sequence (a character spread over several byte
tokens comes out whole), and how a text splits into a model's tokens."""

from __future__ import annotations


def token_text(tokenizer, token_id: int) -> str:
    return tokenizer.decode([token_id], clean_up_tokenization_spaces=False)


class Reader:
    """Token ids in, the text each adds when read in sequence out: a character a byte-level tokenizer spreads over
    several tokens (Chinese, emoji) comes out whole on the token that completes it, ``""`` on those before."""

    def __init__(self, tokenizer):
        self.tokenizer, self.pending = tokenizer, []

    def feed(self, token_id: int, text: str | None = None) -> str:
        """``text``: the token's own decoded text, when known (saves a decode for a whole token)."""
        if text is not None and not self.pending and not text.endswith("\ufffd"):
            return text
        self.pending.append(int(token_id))
        text = self.tokenizer.decode(self.pending, clean_up_tokenization_spaces=False)
        if text.endswith("\ufffd") and len(self.pending) < 4:  # bytes of a character the next token completes
            return ""
        self.pending = []
        return text

    def flush(self) -> str:
        """Text that ends inside a character: its bytes as the tokenizer shows them."""
        text = self.tokenizer.decode(self.pending, clean_up_tokenization_spaces=False) if self.pending else ""
        self.pending = []
        return text


def token_texts(bundle, ids: list) -> list[str]:
    """The text of each token id (for labels)."""
    return [token_text(bundle.tokenizer, int(i)) for i in ids]


def tokenize(bundle, text: str, *, max_chars: int = 20_000) -> dict:
    """How ``text`` splits into the model's tokens, as the model reads it (no special tokens added).

    Returns ``pieces``: for each token its ``id``, its vocabulary entry ``token`` (byte-level BPE writes a leading
    space as ``Ġ``) and the ``text`` it adds. A character the tokenizer spreads over several byte tokens (Chinese,
    emoji) is given whole on the token that completes it; the tokens before carry ``""`` and ``part_of_next``.
    Also ``count`` (tokens), ``chars`` and ``chars_per_token``. ``max_chars`` bounds the text (a hosted limit).
    """
    if not isinstance(text, str):
        raise ValueError(f"The text must be text, got {type(text).__name__}.")
    if not text:
        raise ValueError("Type a text to tokenize.")
    if len(text) > max_chars:
        raise ValueError(f"The text is {len(text):,} characters; at most {max_chars:,} are tokenized here.")
    tok = bundle.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    reader = Reader(tok)
    pieces = [{"id": int(i), "token": token, "text": reader.feed(i)}
              for i, token in zip(ids, tok.convert_ids_to_tokens(ids))]
    if reader.pending:  # the text ends inside a character: its last token shows the bytes
        pieces[-1]["text"] = reader.flush()
    for piece in pieces:
        piece["part_of_next"] = piece["text"] == "" and piece is not pieces[-1]
    return {"pieces": pieces, "count": len(pieces), "chars": len(text),
            "chars_per_token": round(len(text) / len(pieces), 2) if pieces else 0.0}
