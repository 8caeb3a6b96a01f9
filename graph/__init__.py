"""The incremental knowledge graph: users, products, categories and review aspects.

Plain Python (numpy, networkx for export, jieba and lemminflect for aspects);
it never imports Faust, Kafka or ``streams``. A replica calls
:meth:`KnowledgeGraph.apply` once per feedback-log record, answers queries with
the functions of :mod:`graph.queries`, and survives restarts through
:func:`snapshot` / :func:`load`; :func:`digest` tells whether two replicas agree.
See ``docs/graph.md``.
"""

from graph.exceptions import GraphError, InvalidEventError, InvalidParameterError, SnapshotError
from graph.knowledge import KnowledgeGraph
from graph.persist import capture, digest, load, snapshot, write
from graph.queries import product_aspects, random_walk, related_products, stats, user_neighbourhood

__all__ = [
    "GraphError",
    "InvalidEventError",
    "InvalidParameterError",
    "KnowledgeGraph",
    "SnapshotError",
    "capture",
    "digest",
    "load",
    "product_aspects",
    "random_walk",
    "related_products",
    "snapshot",
    "stats",
    "user_neighbourhood",
    "write",
]
