"""The only Faust app, built from settings by :func:`create_app`.

Topics, tables, the agent, the feedback replica and HTTP views live in their
own modules; this one wires them together into a :class:`Pulse` bundle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent
from prometheus_client import CollectorRegistry

from graph.aspects import extract_aspects
from streams.decisions import LiveRules
from streams.emitted import EmittedDecisions
from streams.metrics import Metrics
from streams.models_process import ModelsProcess
from streams.security import faust_credentials, kafka_options
from streams.sentiment import WARM_TEXTS, LiveModel
from streams.settings import Settings
from streams.snapshots import check_folders
from streams.tables import Tables, get, make_tables, stored_ts
from streams.topics import Topics, make_topics

log = logging.getLogger(__name__)


class PulseApp(faust.App):
    """A Faust app with Pulse's consumer (:mod:`streams.consumer`), and the embedded
    broker's transport when on it."""

    use_tansu_transport: bool = False
    #: The consumer's fetch wait, s (:mod:`streams.consumer`).
    fetch_max_wait: float | None = None
    #: aiokafka connection options (TLS, SASL) for the clients Pulse builds itself.
    kafka_options: dict[str, Any] = {}  # noqa: RUF012 - replaced per app, never mutated

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        from streams.consumer import PulseFlowControl

        return PulseFlowControl(loop=self.loop)

    def _new_transport(self) -> Any:
        from streams.consumer import PulseTransport
        from streams.tansu import TansuTransport

        kind = TansuTransport if self.use_tansu_transport else PulseTransport
        return kind(self.conf.broker_consumer, self)


@dataclass
class Pulse:
    """Everything one worker runs."""

    settings: Settings
    app: PulseApp
    topics: Topics
    tables: Tables
    metrics: Metrics
    replica: Any
    sentiment: LiveModel
    rules: LiveRules
    started: float
    #: Decisions published, read back (:mod:`streams.emitted`).
    emitted: EmittedDecisions | None = None
    #: The graph and recommender's own process (None: they run on this loop, or are off).
    models: ModelsProcess | None = None
    ready_at: float | None = None
    #: A dedup or cooldown key's time: the decisions table's, else a published decision's.
    read_decision: Callable[[str], float | None] = field(init=False)

    def __post_init__(self) -> None:
        table = self.tables.decisions

        def from_table(key: str) -> float | None:
            return stored_ts(get(table, key))

        self.read_decision = from_table if self.emitted is None else self.emitted.read(from_table)

    @property
    def ready(self) -> bool:
        """True once the worker has joined its group and recovered its tables."""
        return self.ready_at is not None and not self.app.rebalancing


def new_app(settings: Settings, bootstrap: str, **web: Any) -> PulseApp:
    """A Faust app configured as Pulse's workers are (broker, store, group timeouts,
    producer, transport); ``web``: Faust's web settings (``web_enabled=False``: none)."""
    app = PulseApp(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(settings),
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(0.2, settings.session_timeout / 6),
        broker_rebalance_timeout=settings.session_timeout * 2,
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.data_dir / settings.app_id),
        autodiscover=False,
        producer_acks=-1,
        producer_linger=0.005,
        producer_max_batch_size=512 * 1024,
        table_standby_replicas=0,
        worker_redirect_stdouts=False,
        **web,
    )
    app.use_tansu_transport = settings.kafka_flavor == "tansu"
    app.fetch_max_wait = settings.fetch_max_wait
    app.kafka_options = kafka_options(settings)
    return app


def create_app(
    settings: Settings,
    bootstrap: str,
    *,
    registry: CollectorRegistry | None = None,
    started: float | None = None,
) -> Pulse:
    """Build the Faust app and register Pulse's topics, tables, agent, replica and views."""
    from streams import admin, agents, lag, views
    from streams.replica import FeedbackReplica

    metrics = Metrics(registry)
    sentiment = LiveModel.start(settings, metrics)  # a bad model fails here, before Kafka
    rules = LiveRules.start(settings, metrics)  # and so do bad rules
    app = new_app(
        settings,
        bootstrap,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_in_thread=False,
    )
    emitted = EmittedDecisions(settings, bootstrap)
    pulse = Pulse(
        settings=settings,
        app=app,
        topics=make_topics(app, settings),
        tables=make_tables(app, settings),
        metrics=metrics,
        replica=None,
        sentiment=sentiment,
        rules=rules,
        started=started or time.time(),
        emitted=emitted,
    )
    check_folders(settings)  # an unusable snapshot folder fails here
    apart = settings.models_process and (settings.graph_enabled or settings.reco_enabled)
    pulse.replica = FeedbackReplica(settings, bootstrap, pulse.metrics, models=not apart)
    if apart:
        pulse.models = ModelsProcess(settings, bootstrap, pulse.metrics)
        if settings.reco_enabled:  # else the worker's own popularity model answers
            pulse.replica.remote = pulse.models.top_items
        pulse.app.task(pulse.models.run)
    agents.register(pulse)
    views.register(pulse)
    admin.register(pulse)
    pulse.app.task(pulse.replica.run)
    pulse.app.task(emitted.run)
    pulse.app.task(pulse.rules.watch)
    lag.register(pulse)

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def _ready(sender: Any, **kwargs: Any) -> None:
        if pulse.ready_at is None:
            pulse.ready_at = time.time()
            log.info("pulse worker ready %.2f s after start", pulse.ready_at - pulse.started)
        pulse.metrics.ready.set(1)

    return pulse


def warm_up(pulse: Pulse) -> threading.Thread:
    """Load what the first review would otherwise wait for (the sentiment tokenizers' and
    the graph's aspect lexicons, about 1.5 s) in a thread started now, while the worker
    starts and joins its group, so that the first batches run as fast as the rest. A
    batch that needs a lexicon still loading waits for it (jieba loads under a lock)."""

    def warm() -> None:
        started = time.perf_counter()
        try:
            pulse.sentiment.warm()
            for text in WARM_TEXTS:  # the agent extracts every review's aspects
                extract_aspects(text)
        except Exception:  # a model or lexicon that fails here fails on a review later
            log.exception("warm-up failed")
            return
        log.info("warmed up in %.2f s", time.perf_counter() - started)

    thread = threading.Thread(target=warm, name="pulse-warm-up", daemon=True)
    thread.start()
    return thread
