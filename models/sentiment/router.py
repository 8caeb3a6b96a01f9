"""Route each text to the tier of its script: CJK-heavy texts to one model, the rest to another.

A router folder has a ``card.json`` of ``"kind": "router"``::

    {"kind": "router", "name": "sentiment-accurate", "version": "...",
     "languages": ["zh", "en"], "cjk_share": 0.3,
     "routes": {"cjk": "../sentiment-zh", "other": "../sentiment-accurate-en"}}

Route folders are relative to the router's folder; each is an ordinary model folder.
A text goes to ``cjk`` when CJK characters (Han, kana, Hangul) are at least
``cjk_share`` of its letters (CJK characters count as letters), else to ``other``.

>>> cjk_shares(["质量很好 good", "great phone, 很好", "", "123 !!"]).round(2).tolist()
[0.5, 0.17, 0.0, 0.0]
>>> routes(["质量很好 good", "great phone, 很好", ""], 0.3).tolist()
[0, 1, 1]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.sentiment import card as cards
from models.sentiment.exceptions import InvalidModelError

_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
#: Route names, in the order of the tier index :func:`routes` returns.
ROUTES = ("cjk", "other")
#: Characters of a text looked at (enough to tell the script of a review).
PREFIX = 256


def cjk_shares(texts: Sequence[str]) -> np.ndarray:
    """Share of CJK characters among the letters of each text's first ``PREFIX`` characters."""
    out = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        head = text[:PREFIX]
        letters = len(_LETTER.findall(head))
        if letters:
            out[i] = len(_CJK.findall(head)) / letters
    return out


def routes(texts: Sequence[str], cjk_share: float) -> np.ndarray:
    """Tier index per text: 0 (``cjk``) or 1 (``other``)."""
    return np.where(cjk_shares(texts) >= cjk_share, 0, 1)


def read(folder: Path, card: dict[str, Any]) -> tuple[list[Path], float]:
    """The route folders (in :data:`ROUTES` order) and threshold of a router card."""
    where = folder / cards.CARD
    table = card.get("routes") or {}
    if set(table) != set(ROUTES):
        raise InvalidModelError(f"{where}: routes must name exactly {list(ROUTES)}, got {table}")
    share = float(card.get("cjk_share", 0.3))
    if not 0.0 < share <= 1.0:
        raise InvalidModelError(f"{where}: cjk_share must be in (0, 1], got {share}")
    folders = [(folder / table[r]).resolve() for r in ROUTES]
    for f in folders:
        if (f / cards.CARD).is_file() and (cards.read(f) or {}).get("kind") == "router":
            raise InvalidModelError(f"{where}: route {f} is itself a router")
    return folders, share
