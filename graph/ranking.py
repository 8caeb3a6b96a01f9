"""Top-k of scored nodes, ties broken by name, so every replica answers alike.

>>> from graph.store import GraphStore
>>> g = GraphStore(half_life=None)
>>> ids = np.array([g.node(1, name) for name in "cab"])
>>> top_k(g, ids, np.array([1.0, 2.0, 1.0]), 2)
[('a', 2.0, 1), ('b', 1.0, 2)]
"""

from __future__ import annotations

import numpy as np

from graph.store import GraphStore


def top_k(
    g: GraphStore, nodes: np.ndarray, scores: np.ndarray, k: int
) -> list[tuple[str, float, int]]:
    """The top ``k`` as ``(name, score, id)``, ties broken by name."""
    if len(nodes) > k:
        cut = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= cut
        nodes, scores = nodes[keep], scores[keep]
    ranked = sorted(
        ((g.name(v), s, v) for s, v in zip(scores.tolist(), nodes.tolist(), strict=True)),
        key=lambda item: (-item[1], item[0]),
    )
    return ranked[:k]
