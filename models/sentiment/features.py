"""Hashed n-gram features for the fast sentiment tier: the same code at training and serving.

A text is normalised (:func:`normalize`: NFKC, lower case, ``n't`` -> `` not``, emoji
spelled as the words of their Unicode names, cut to ``max_chars``) and split into runs of CJK characters (Han, kana, Hangul) and other
tokens (words of letters/digits, single symbols such as ``!`` or an emoji).
Features: character 1..3-grams inside each CJK run; word/symbol uni- and bigrams;
optionally character n-grams of ``<word>`` (fastText subwords) and, with ``words="jieba"``,
jieba word uni- and bigrams of texts that hold CJK characters. Every feature becomes
a bucket id in ``[1, n_buckets)`` through a fixed arithmetic hash (CRC-32 for
tokens, a polynomial over code points for character n-grams, a splitmix64 finaliser
on top), so ids never depend on ``PYTHONHASHSEED`` or the platform. Id 0 is padding.

>>> f = Featurizer(n_buckets=1 << 20)
>>> ids = f.ids("质量很好，物流快！Great value")
>>> len(ids), all(0 < i < 1 << 20 for i in ids)
(22, True)
>>> f.ids("") == f.ids("   ") == []
True
>>> f.ids("Doesn't work") == f.ids("does n't WORK")
True
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Name and version of this featurizer; a model card names the one its model needs.
NAME = "hashed-ngrams"
VERSION = 2

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ebef"
_TOKEN = re.compile(f"[{_CJK}]+|[^\\W_{_CJK}]+|[^\\w\\s]")
_IS_CJK = re.compile(f"[{_CJK}]")
_NOT = re.compile(r"\s?n't\b")
_EMOJI = re.compile("[\u2190-\u2bff\U0001f000-\U0001faff]")
_EMOJI_GLUE = re.compile("[\ufe0f\u200d\U0001f3fb-\U0001f3ff]")

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
#: Seeds that keep the kinds of features apart before bucketing.
_SEED_CJK = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)
_SEED_WORD, _SEED_BIGRAM, _SEED_SUBWORD = 0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB
_SEED_ZH_WORD, _SEED_ZH_BIGRAM = 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3
#: The jieba release whose dictionary word features were made with (a card records it).
JIEBA = "0.42.1"
_POLY = 0x100000001B3  # multiplier of the code-point polynomial (the FNV-1a 64-bit prime)


def normalize(text: str, max_chars: int = 512) -> str:
    """NFKC, lower case, curly apostrophes straightened, ``n't`` split off, emoji as words.

    At most ``max_chars`` are kept. The training data holds almost no emoji, so an
    emoji is replaced by the words of its Unicode name, which the model does know.

    >>> normalize("ＧＯＯＤ！ It doesn’t ")
    'good! it does not'
    >>> normalize("好吃😋👍🏻")
    '好吃 face savouring delicious food  thumbs up sign'
    """
    text = unicodedata.normalize("NFKC", text[: max_chars * 2]).replace("\ufeff", "")
    text = _NOT.sub(" not", text.lower().replace("\u2019", "'"))
    return spell_emoji(text)[:max_chars].strip()


def spell_emoji(text: str) -> str:
    """Each emoji replaced by the (lower-case) words of its Unicode name; skin tones dropped.

    Both tiers do this at training and serving time, so emoji-only texts carry words.

    >>> spell_emoji("好吃😋")
    '好吃 face savouring delicious food '
    """
    if not _EMOJI.search(text):
        return text
    return _EMOJI.sub(_emoji_words, _EMOJI_GLUE.sub("", text))


def _emoji_words(match: re.Match[str]) -> str:
    char = match.group(0)
    if unicodedata.category(char) != "So":
        return char
    return f" {unicodedata.name(char, char).lower()} "


_S30, _S27, _S31, _S32 = _U64(30), _U64(27), _U64(31), _U64(32)
_M1, _M2, _P = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB), _U64(_POLY)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over uint64 (wrapping arithmetic, identical everywhere)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _char_ngrams(
    codes: np.ndarray, owner: np.ndarray, lo: int, hi: int, seeds: Sequence[int], out: _Parts
) -> None:
    """Seeded values of all ``lo..hi``-grams of ``codes`` that contain no 0 (a separator)."""
    h = np.zeros(len(codes), dtype=_U64)
    ok = np.ones(len(codes), dtype=bool)
    for n in range(1, hi + 1):
        size = len(codes) - n + 1
        if size <= 0:
            break
        h = h[:size] * _P + codes[n - 1 :]
        ok = ok[:size] & (codes[n - 1 :] != 0)
        if n >= lo:
            out.add(h[ok] ^ _U64(seeds[(n - 1) % len(seeds)]), owner[:size][ok])


class _Parts:
    """Seeded feature values (mixed into buckets at the end) and the text each belongs to."""

    __slots__ = ("values", "owners")

    def __init__(self) -> None:
        self.values: list[np.ndarray] = []
        self.owners: list[np.ndarray] = []

    def add(self, values: np.ndarray, owners: np.ndarray) -> None:
        self.values.append(values)
        self.owners.append(owners)


@dataclass(frozen=True, slots=True)
class Features:
    """Bucket ids of a batch, row by row (CSR): row ``i`` is ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray
    offsets: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def padded(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The id matrix of ``rows`` (all by default), padded with 0 to the longest row.

        >>> Featurizer().batch(["good", "", "not bad at all"]).padded().shape
        (3, 7)
        """
        if rows is None and len(self.offsets) == 2:  # one text: no gather needed
            return self.ids.reshape(1, -1) if len(self.ids) else np.zeros((1, 1), np.int64)
        starts, lengths = self.offsets[:-1], self.lengths
        if rows is not None:
            starts, lengths = starts[rows], lengths[rows]
        width = max(int(lengths.max(initial=0)), 1)
        out = np.zeros((len(lengths), width), dtype=np.int64)
        mask = np.arange(width) < lengths[:, None]
        take = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        out[mask] = self.ids[take + np.arange(len(take))]
        return out


@dataclass(frozen=True, slots=True)
class Featurizer:
    """Text -> hashed n-gram bucket ids; its fields go into the model card.

    ``cjk`` is the ``(min, max)`` length of character n-grams in CJK runs; ``subword``
    the same for character n-grams of ``<word>`` in other scripts, ``(0, 0)`` for none.
    ``words`` ``"jieba"`` adds the words jieba segments a text with CJK characters into
    (its own tokenizer instance, default dictionary, HMM on), as uni- and bigrams; ``""``
    (the default, and the fast tier) adds none and leaves the ids of the others unchanged.
    """

    n_buckets: int = 1 << 20
    max_chars: int = 512
    subword: tuple[int, int] = (0, 0)
    cjk: tuple[int, int] = (1, 3)
    words: str = ""

    def __post_init__(self) -> None:
        if self.words not in ("", "jieba"):
            raise ValueError(f"words must be '' or 'jieba', not {self.words!r}")

    def to_dict(self) -> dict[str, Any]:
        spec = {"name": NAME, "version": VERSION, **asdict(self)}
        if not self.words:
            del spec["words"]  # cards written before word features existed stay byte-identical
        else:
            spec["jieba"] = JIEBA
        return spec

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Featurizer:
        """The featurizer a card describes; ValueError if this code cannot reproduce it."""
        if spec.get("name") != NAME or spec.get("version") != VERSION:
            raise ValueError(
                f"featurizer {spec.get('name')} v{spec.get('version')} is not this code's "
                f"{NAME} v{VERSION}"
            )
        return cls(
            int(spec["n_buckets"]),
            int(spec["max_chars"]),
            (int(spec["subword"][0]), int(spec["subword"][1])),
            (int(spec["cjk"][0]), int(spec["cjk"][1])),
            str(spec.get("words", "")),
        )

    def ids(self, text: str) -> list[int]:
        """Bucket ids of one text (the same as its row in :meth:`batch`)."""
        return self.batch([text]).ids.tolist()

    def batch(self, texts: Sequence[str]) -> Features:
        """Bucket ids of every text, vectorised over the batch."""
        cjk: list[str] = []
        tokens: list[int] = []
        words: list[str] = []
        zh_words: list[int] = []
        n_zh = np.zeros(len(texts), dtype=np.int64)
        n_tok = np.zeros(len(texts), dtype=np.int64)
        n_cjk = np.zeros(len(texts), dtype=np.int64)
        n_word = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, not str")
            runs, toks = [], []
            norm = normalize(text, self.max_chars)
            for tok in _TOKEN.findall(norm):
                if _IS_CJK.match(tok):
                    runs.append(tok)
                else:
                    toks.append(tok)
            joined = "\0".join(runs)
            cjk.append(joined)
            n_cjk[i] = len(joined) + 1
            tokens.extend(zlib.crc32(t.encode()) for t in toks)
            n_tok[i] = len(toks)
            if self.subword[1]:
                w = " ".join(f"<{t}>" for t in toks if t[0].isalpha())
                words.append(w)
                n_word[i] = len(w) + 1
            if self.words and runs:
                segs = [w for w in _jieba().lcut(norm) if not w.isspace()]
                zh_words.extend(zlib.crc32(w.encode()) for w in segs)
                n_zh[i] = len(segs)
        parts = _Parts()
        if n_cjk.sum() > len(texts):
            self._chars(cjk, n_cjk, self.cjk, _SEED_CJK, parts)
        if tokens:
            self._tokens(np.array(tokens, dtype=_U64), n_tok, parts)
        if zh_words:
            seeds = (_SEED_ZH_WORD, _SEED_ZH_BIGRAM)
            self._tokens(np.array(zh_words, dtype=_U64), n_zh, parts, seeds)
        if self.subword[1] and n_word.sum() > len(texts):
            spelled = [w.replace(" ", "\0") for w in words]
            self._chars(spelled, n_word, self.subword, (_SEED_SUBWORD,), parts)
        return self._assemble(parts, len(texts))

    @staticmethod
    def _chars(
        runs: list[str], sizes: np.ndarray, span: tuple[int, int], seeds: Sequence[int], out: _Parts
    ) -> None:
        codes = np.frombuffer("\0".join(runs).encode("utf-32-le"), dtype="<u4").astype(_U64)
        owner = np.repeat(np.arange(len(runs)), sizes)[: len(codes)]
        _char_ngrams(codes, owner, span[0], span[1], seeds, out)

    @staticmethod
    def _tokens(
        hashes: np.ndarray,
        counts: np.ndarray,
        out: _Parts,
        seeds: tuple[int, int] = (_SEED_WORD, _SEED_BIGRAM),
    ) -> None:
        owner = np.repeat(np.arange(len(counts)), counts)
        out.add(hashes ^ _U64(seeds[0]), owner)
        same = owner[1:] == owner[:-1]
        bigrams = (hashes[:-1] << _S32) | hashes[1:]
        out.add(bigrams[same] ^ _U64(seeds[1]), owner[1:][same])

    def _assemble(self, parts: _Parts, n: int) -> Features:
        if not parts.values:
            return Features(np.zeros(0, dtype=np.int64), np.zeros(n + 1, dtype=np.int64))
        values = np.concatenate(parts.values)
        owner = np.concatenate(parts.owners)
        if n > 1:
            order = np.argsort(owner, kind="stable")
            values, owner = values[order], owner[order]
        ids = (_mix(values) % _U64(self.n_buckets - 1)).astype(np.int64) + 1
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=n), out=offsets[1:])
        return Features(ids, offsets)


_JIEBA: list[Any] = []


def _jieba() -> Any:
    """A private jieba tokenizer (default dictionary): words others add to jieba's global
    one (``jieba.add_word``) never change the ids a model was trained on."""
    if not _JIEBA:
        import logging

        import jieba

        if jieba.__version__ != JIEBA:
            raise RuntimeError(f"word features need jieba {JIEBA}, found {jieba.__version__}")
        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        _JIEBA.append(tokenizer)
    return _JIEBA[0]


def fingerprint(featurizer: Featurizer, texts: Sequence[str]) -> str:
    """CRC-32 (hex) of the ids of ``texts``: a card stores it so serving can prove it matches."""
    f = featurizer.batch(texts)
    return f"{zlib.crc32(f.ids.tobytes() + f.offsets.tobytes()) & 0xFFFFFFFF:08x}"


#: Texts a card's fingerprint is computed over (all scripts and edge cases the model sees).
PROBE_TEXTS = (
    "",
    "😀😀👍",
    "质量很好，物流也快，五星好评！",
    "太差了，根本不能用，退货。",
    "This is great, I love it!",
    "Terrible. It doesn't work and support never answered.",
    "Ｆｕｌｌｗｉｄｔｈ ＴＥＸＴ and 混合 text 😡",
    "ça marche très bien — très content",
    "x" * 2000,
)
