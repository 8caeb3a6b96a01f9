"""Subword tokens for transformer models: HF ``tokenizers``, the same code at training and serving.

A model folder ships the ``tokenizer.json`` its model was trained with; its card
gives ``max_length`` (tokens, special ones included). Before tokenizing, a text
loses stray BOMs, is cut to ``max_length * CHARS_PER_TOKEN`` characters (a 1 MB
review costs no more than a long one) and, where the card says ``"emoji": "names"``,
has its emoji spelled as words (:func:`~models.sentiment.features.spell_emoji`),
since most vocabularies map emoji to ``[UNK]``. Truncation keeps the first tokens.
A text empty after that (``""``, blanks) is marked in :attr:`Encoded.empty`; the
engine scores it neutral without asking the model.

>>> from tokenizers import Tokenizer, models, pre_tokenizers
>>> vocab = {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3, "thumbs": 4, "up": 5}
>>> tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
>>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
>>> enc = TextEncoder(tok, max_length=3).encode(["good bad good bad", "", "👍"])
>>> enc.feeds()["input_ids"].tolist(), enc.empty.tolist()
([[2, 3, 2], [0, 0, 0], [4, 5, 1]], [False, True, False])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from models.sentiment.features import spell_emoji

#: Characters kept per token of ``max_length`` before tokenizing (English averages ~4-5).
CHARS_PER_TOKEN = 12
INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS = "input_ids", "attention_mask", "token_type_ids"


@dataclass(frozen=True, slots=True)
class Encoded:
    """Token ids of a batch, row by row (CSR): row ``i`` is ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray
    type_ids: np.ndarray
    offsets: np.ndarray
    empty: np.ndarray
    pad_id: int = 0

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def feeds(self, rows: np.ndarray | None = None, types: bool = True) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask`` (and ``token_type_ids``) of ``rows``, right-padded."""
        starts, lengths = self.offsets[:-1], self.lengths
        if rows is not None:
            starts, lengths = starts[rows], lengths[rows]
        width = max(int(lengths.max(initial=0)), 1)
        mask = np.arange(width) < lengths[:, None]
        take = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        take += np.arange(len(take))
        ids = np.full((len(lengths), width), self.pad_id, dtype=np.int64)
        ids[mask] = self.ids[take]
        out = {INPUT_IDS: ids, ATTENTION_MASK: mask.astype(np.int64)}
        if types:
            out[TOKEN_TYPE_IDS] = np.zeros_like(ids)
            out[TOKEN_TYPE_IDS][mask] = self.type_ids[take]
        return out


class TextEncoder:
    """Texts -> token ids with a HF tokenizer, truncated to ``max_length``; see the module doc."""

    def __init__(
        self, tokenizer: Tokenizer, max_length: int, pad_id: int | None = None, emoji: bool = True
    ) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.emoji = emoji
        self.pad_id = _pad_id(tokenizer) if pad_id is None else pad_id
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)

    @classmethod
    def from_file(
        cls, path: str | Path, max_length: int, pad_id: int | None = None, emoji: bool = True
    ) -> TextEncoder:
        return cls(Tokenizer.from_file(str(path)), max_length, pad_id, emoji)

    def prepare(self, text: str) -> str:
        """The text the tokenizer sees (see the module doc)."""
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, not str")
        text = text[: self.max_length * CHARS_PER_TOKEN].replace("\ufeff", "")
        return (spell_emoji(text) if self.emoji else text).strip()

    def encode(self, texts: Sequence[str]) -> Encoded:
        prepared = [self.prepare(t) for t in texts]
        encodings = self.tokenizer.encode_batch(prepared)
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter((i for e in encodings for i in e.ids), np.int64, int(offsets[-1]))
        types = np.fromiter((i for e in encodings for i in e.type_ids), np.int64, int(offsets[-1]))
        empty = np.fromiter((not t for t in prepared), bool, len(prepared))
        return Encoded(ids, types, offsets, empty, self.pad_id)


def _pad_id(tokenizer: Tokenizer) -> int:
    for token in ("[PAD]", "<pad>", "<|pad|>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0
