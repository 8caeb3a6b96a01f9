"""Pulse's topics: their logical names, partition counts, creation, and Faust handles.

Input topics are keyed by ``product_id`` so that all of a product's events land
in one partition number across topics (the per-product tables are
co-partitioned with them). The feedback log has a single partition: it is the
total order every worker's replicas apply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.security import kafka_options
from streams.settings import Settings

log = logging.getLogger(__name__)

INPUTS = ("reviews", "clicks", "sales", "products")
DECISIONS = "decisions"
SCORED = "reviews.scored"
DEAD_LETTER = "deadletter"
FEEDBACK = "feedback"
OUTPUTS = (DECISIONS, SCORED, DEAD_LETTER)
_TOPIC_EXISTS = 36


def partition_counts(settings: Settings) -> dict[str, int]:
    """Logical topic name -> partitions, for every topic Pulse creates.

    >>> partition_counts(Settings(partitions=3))["feedback"]
    1
    """
    counts = {name: settings.partitions for name in INPUTS + OUTPUTS}
    counts[FEEDBACK] = 1
    return counts


async def ensure_topics(settings: Settings, bootstrap: str) -> dict[str, int]:
    """Create every missing topic; existing ones are left as they are."""
    counts = partition_counts(settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=f"{settings.app_id}-admin", **kafka_options(settings)
    )
    await admin.start()
    try:
        new = [
            NewTopic(settings.topic(name), n, settings.replication_factor)
            for name, n in counts.items()
        ]
        response = await admin.create_topics(new)
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_EXISTS):
                raise RuntimeError(f"cannot create topic {topic}: {message} (error {code})")
    finally:
        await admin.close()
    log.info("topics ready: %s", ", ".join(settings.topic(n) for n in counts))
    return counts


@dataclass(frozen=True)
class Topics:
    """Faust handles on Pulse's topics; values are raw bytes (Pulse decodes them)."""

    inputs: faust.TopicT
    decisions: faust.TopicT
    scored: faust.TopicT
    dead_letter: faust.TopicT
    feedback: faust.TopicT
    logical: dict[str, str]

    def logical_name(self, real: str) -> str:
        """The logical name (``clicks``) of a real topic name (``shop1.clicks``)."""
        return self.logical[real]


def make_topics(app: faust.App, settings: Settings) -> Topics:
    """Declare Pulse's topics on ``app`` (created by :func:`ensure_topics`, not by Faust)."""

    def topic(*names: str, partitions: int | None = None) -> faust.TopicT:
        return app.topic(
            *(settings.topic(n) for n in names),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
            internal=False,
        )

    return Topics(
        inputs=topic(*INPUTS),
        decisions=topic(DECISIONS, partitions=settings.partitions),
        scored=topic(SCORED, partitions=settings.partitions),
        dead_letter=topic(DEAD_LETTER, partitions=settings.partitions),
        feedback=topic(FEEDBACK, partitions=1),
        logical={settings.topic(n): n for n in partition_counts(settings)},
    )
