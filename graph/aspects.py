"""Aspects of a review: the things it talks about, each with the sentiment it carries.

:func:`extract_aspects` picks the language (the event's ``lang`` when given, else
the share of CJK characters) and returns distinct aspects in order of first
mention. Chinese goes through jieba (:mod:`graph.aspects_zh`), English through
lexicon-tagged noun phrases (:mod:`graph.aspects_en`); other languages give none.
Both are deterministic functions of the text and the pinned library versions, so
every replica extracts the same aspects.

An aspect carries the sentiment of the review it came from (:func:`review_sentiment`:
the model's score when the record has one, else the star rating mapped to
[-1, 1]); the sentence is returned with it for callers that score sentences.

>>> extract_aspects("The battery died after a week.")
[('battery', 'The battery died after a week.')]
>>> [a for a, _ in extract_aspects("物流很快，但是屏幕有划痕")]
['物流', '屏幕', '划痕']
>>> review_sentiment({"score": -0.8, "label": "negative"}, 5), review_sentiment(None, 2)
(-0.8, -0.5)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from graph.aspects_en import aspects_en
from graph.aspects_zh import aspects_zh

#: CJK unified ideographs (the basic block and extension A).
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
#: Text with at least this share of CJK characters (of its non-blank ones) is Chinese.
CJK_SHARE = 0.2
#: Most aspects taken from one review.
MAX_ASPECTS = 8

#: ``(text, lang) -> [(aspect, sentence)]``: the graph's pluggable extractor.
Extractor = Callable[[str, str | None], list[tuple[str, str]]]


def language(text: str, lang: str | None = None) -> str | None:
    """``"zh"``, ``"en"`` or None (a language without an extractor).

    >>> language("质量很好"), language("Great value"), language("x", "fr"), language("x", "zh-CN")
    ('zh', 'en', None, 'zh')
    """
    if lang:
        code = lang.lower()[:2]
        return code if code in ("zh", "en") else None
    letters = len(text) - text.count(" ")
    if letters and len(CJK.findall(text)) >= CJK_SHARE * letters:
        return "zh"
    return "en"


def extract_aspects(
    text: str, lang: str | None = None, limit: int = MAX_ASPECTS
) -> list[tuple[str, str]]:
    """Distinct aspects of ``text`` with the sentence (or clause) of their first mention."""
    code = language(text, lang)
    if code == "zh":
        return aspects_zh(text, limit)
    if code == "en":
        return aspects_en(text, limit)
    return []


def review_sentiment(sentiment: Mapping[str, Any] | None, rating: int | None) -> float | None:
    """The review's sentiment in [-1, 1]: the model's score, else ``(rating - 3) / 2``."""
    if sentiment is not None and sentiment.get("score") is not None:
        return max(-1.0, min(1.0, float(sentiment["score"])))
    if rating is not None:
        return (float(rating) - 3.0) / 2.0
    return None
