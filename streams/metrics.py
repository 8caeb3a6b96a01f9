"""Every Prometheus metric Pulse exports, built on an injected registry.

Names follow ``pulse_<subsystem>_<name>_<unit>`` in base units; labels are
bounded (topic, outcome, reason), never a user or product id.

>>> from prometheus_client import CollectorRegistry
>>> m = Metrics(CollectorRegistry())
>>> m.events.labels(topic="clicks", outcome="processed").inc()
>>> b"pulse_stream_events_total" in m.render()
True
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

#: The metric families a worker's models process exports (:mod:`streams.models_process`):
#: the worker's ``/metrics`` takes these from it, and every other family from its own.
MODELS_FAMILIES = ("pulse_graph_", "pulse_reco_", "pulse_models_feedback_")

#: Outcomes of one input event.
OUTCOMES = ("processed", "duplicate", "redelivered", "dead_letter", "stale", "refetched")

_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class Metrics:
    """Pulse's metrics; one instance per worker, one registry per test."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "pulse_stream_events_total",
            "Input events by topic and outcome.",
            ["topic", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "pulse_stream_dead_letters_total",
            "Events sent to the dead-letter topic, by reason.",
            ["topic", "reason"],
            registry=r,
        )
        self.gc_freezes = Counter(
            "pulse_gc_freezes",
            "Times the objects then alive were moved out of Python's cyclic collection "
            "(gc.freeze, every PULSE_GC_FREEZE_INTERVAL s).",
            registry=r,
        )
        self.batch_duration = Histogram(
            "pulse_stream_batch_duration_seconds",
            "Time to process one batch of input events.",
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.batch_size = Histogram(
            "pulse_stream_batch_size_events",
            "Events per processed batch.",
            registry=r,
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
        )
        self.event_latency = Histogram(
            "pulse_stream_event_latency_seconds",
            "From an event's publication (Kafka timestamp) to the end of its processing.",
            ["topic"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.feedback_applied = Counter(
            "pulse_feedback_applied_total",
            "Feedback-log records applied to this worker's replicas.",
            ["outcome"],
            registry=r,
        )
        self.feedback_offset = Gauge(
            "pulse_feedback_offset",
            "Next feedback-log offset this worker's replica will apply.",
            registry=r,
        )
        self.reco_items = Gauge(
            "pulse_reco_popularity_items",
            "Items tracked by the popularity recommender.",
            registry=r,
        )
        self.ready = Gauge(
            "pulse_worker_ready",
            "1 once this worker has joined its group and recovered its tables.",
            registry=r,
        )
        self.products = Gauge(
            "pulse_stream_products",
            "Products with state held by this worker.",
            registry=r,
        )

        self.lag_messages = Gauge(
            "pulse_stream_consumer_lag_messages",
            "Messages in this worker's input partitions after its group's committed offset.",
            ["topic"],
            registry=r,
        )
        self.lag_seconds = Gauge(
            "pulse_stream_consumer_lag_seconds",
            "Age of the oldest message after the committed offset in this worker's partitions.",
            ["topic"],
            registry=r,
        )
        self.lag_probes = Counter(
            "pulse_stream_lag_probes_total",
            "Lag measurements, by outcome (ok, partial: a partition did not answer, failed).",
            ["outcome"],
            registry=r,
        )
        self.partitions_assigned = Gauge(
            "pulse_stream_partitions_assigned",
            "Input topic partitions assigned to this worker (all input topics together).",
            registry=r,
        )
        self.rebalances = Counter(
            "pulse_worker_rebalances_total",
            "Partition assignments this worker received (its first join included).",
            registry=r,
        )
        self.feedback_lag_messages = Gauge(
            "pulse_feedback_lag_messages",
            "Feedback-log records this worker's replica has not applied yet.",
            registry=r,
        )
        self.feedback_lag_seconds = Gauge(
            "pulse_feedback_lag_seconds",
            "Age of the oldest feedback-log record this worker's replica has not applied.",
            registry=r,
        )

        self.sentiment_reviews = Counter(
            "pulse_sentiment_reviews_total",
            "Reviews scored by the sentiment model.",
            registry=r,
        )
        self.sentiment_clauses = Counter(
            "pulse_sentiment_clauses_total",
            "Clauses naming a review's aspects scored by the sentiment model (a clause that is "
            "the whole review is not scored again).",
            registry=r,
        )
        self.sentiment_seconds = Histogram(
            "pulse_sentiment_inference_duration_seconds",
            "Time of one sentiment model call (a whole batch of reviews).",
            registry=r,
            buckets=(
                0.0001,
                0.00025,
                0.0005,
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                1.0,
            ),
        )
        self.sentiment_batch = Histogram(
            "pulse_sentiment_batch_size_reviews",
            "Reviews per sentiment model call.",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        )
        self.sentiment_provider = Gauge(
            "pulse_sentiment_provider_info",
            "1 for the ONNX Runtime execution provider the sentiment model really runs on.",
            ["provider"],
            registry=r,
        )
        self.sentiment_model = Gauge(
            "pulse_sentiment_model_info",
            "1 for the version of the sentiment model in use.",
            ["version"],
            registry=r,
        )
        self.sentiment_gpu_required = Gauge(
            "pulse_sentiment_gpu_required",
            "1 when PULSE_SENTIMENT_REQUIRE_GPU is set.",
            registry=r,
        )
        self.sentiment_gpu_requested = Gauge(
            "pulse_sentiment_gpu_requested",
            "1 when a GPU provider was asked for (named in PULSE_SENTIMENT_PROVIDERS, found by "
            "'auto', or required), whatever provider really started.",
            registry=r,
        )
        self.sentiment_swaps = Counter(
            "pulse_sentiment_model_swaps_total",
            "Model swaps asked for, by outcome (swapped, rejected).",
            ["outcome"],
            registry=r,
        )
        self.rules_loaded = Gauge(
            "pulse_rules_loaded",
            "Rules in the active rule set (enabled or not).",
            registry=r,
        )
        self.rules_reloads = Counter(
            "pulse_rules_reloads_total",
            "Rule set reloads, by outcome (ok, failed: the previous rules stay active).",
            ["outcome"],
            registry=r,
        )
        self.rules_evaluations = Counter(
            "pulse_rules_evaluations_total",
            "Rule conditions evaluated.",
            registry=r,
        )
        self.rules_eval_seconds = Histogram(
            "pulse_rules_evaluation_duration_seconds",
            "Time to build facts and evaluate the rules for one batch of events.",
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.decisions = Counter(
            "pulse_rules_decisions_total",
            "Decisions published, by rule and action.",
            ["rule", "action"],
            registry=r,
        )
        self.rules_errors = Counter(
            "pulse_rules_errors_total",
            "Events whose facts or rules failed to evaluate (the event itself was applied).",
            registry=r,
        )
        self.decisions_suppressed = Counter(
            "pulse_rules_decisions_suppressed_total",
            "Rules that matched but made no decision, by reason (duplicate, cooling_down).",
            ["reason"],
            registry=r,
        )
        self.graph_nodes = Gauge(
            "pulse_graph_nodes",
            "Nodes of this worker's knowledge graph replica, by kind.",
            ["kind"],
            registry=r,
        )
        self.graph_edges = Gauge(
            "pulse_graph_edges",
            "Edges of this worker's knowledge graph replica, by kind (edge type).",
            ["kind"],
            registry=r,
        )
        self.graph_edge_cap = Gauge(
            "pulse_graph_edge_cap",
            "Edges the graph may hold now (PULSE_GRAPH_MAX_EDGES, or fewer under the byte cap).",
            registry=r,
        )
        self.graph_bytes = Gauge(
            "pulse_graph_estimated_bytes",
            "Estimated memory of the knowledge graph replica (graph.bounds.estimated_bytes).",
            registry=r,
        )
        self.graph_pruned = Counter(
            "pulse_graph_pruned_total",
            "Graph edges and nodes pruned, by kind (edge, node) and reason (weak, cap, bare).",
            ["kind", "reason"],
            registry=r,
        )
        self.graph_records = Counter(
            "pulse_graph_records_total",
            "Feedback records given to the graph, by outcome (applied, duplicate, invalid, "
            "skipped: already in the snapshot it was restored from).",
            ["outcome"],
            registry=r,
        )
        self.graph_snapshots = Counter(
            "pulse_graph_snapshots_total",
            "Graph snapshots written, by outcome (written, failed).",
            ["outcome"],
            registry=r,
        )
        self.graph_snapshot_seconds = Gauge(
            "pulse_graph_snapshot_duration_seconds",
            "Time of the last graph snapshot, by phase (capture: the worker's pause for it, a fork "
            "or a copy; write: the copy and write in a child, or the write in a thread).",
            ["phase"],
            registry=r,
        )
        self.graph_snapshot_bytes = Gauge(
            "pulse_graph_snapshot_bytes",
            "Size of the last graph snapshot file written.",
            registry=r,
        )
        self.reco_prequential_hits = Counter(
            "pulse_reco_prequential_hits",
            "Sampled interactions whose item was in the model's top 10 for that user just "
            "before it learned from them (hybrid, popularity).",
            ["model"],
            registry=r,
        )
        self.reco_prequential_evaluations = Counter(
            "pulse_reco_prequential_evaluations",
            "Sampled interactions of a known user with an item new to them, scored before "
            "being learned (every PULSE_RECO_EVAL_EVERY-th), by model.",
            ["model"],
            registry=r,
        )
        self.reco_records = Counter(
            "pulse_reco_records",
            "Feedback records given to the hybrid recommender, by outcome (learned, duplicate, "
            "invalid, skipped: already in the snapshot it was restored from).",
            ["outcome"],
            registry=r,
        )
        self.reco_recommend_seconds = Histogram(
            "pulse_reco_recommend_duration_seconds",
            "Time to rank one user's recommendations with the hybrid, by caller (view, facts, "
            "evaluation).",
            ["caller"],
            registry=r,
            buckets=(
                0.0001,
                0.00025,
                0.0005,
                0.001,
                0.0025,
                0.005,
                0.0075,
                0.01,
                0.015,
                0.02,
                0.025,
                0.05,
                0.1,
                0.5,
            ),
        )
        self.reco_size = Gauge(
            "pulse_reco_size",
            "Entries the hybrid recommender holds, by kind (users, items, factor_rows).",
            ["kind"],
            registry=r,
        )
        self.reco_snapshots = Counter(
            "pulse_reco_snapshots",
            "Recommender snapshots written, by outcome (written, failed).",
            ["outcome"],
            registry=r,
        )
        self.reco_snapshot_seconds = Gauge(
            "pulse_reco_snapshot_duration_seconds",
            "Time of the last recommender snapshot, by phase (capture: the worker's pause for "
            "it, a fork or a copy; write: the copy and write in a child, or the write in a thread).",
            ["phase"],
            registry=r,
        )
        self.reco_snapshot_bytes = Gauge(
            "pulse_reco_snapshot_bytes",
            "Size of the last recommender snapshot file written.",
            registry=r,
        )
        self.models_up = Gauge(
            "pulse_models_process_up",
            "1 while this worker's models process (graph and recommender, PULSE_MODELS_PROCESS) "
            "runs; 0 while it is down or restarting.",
            registry=r,
        )
        self.models_restarts = Counter(
            "pulse_models_process_restarts_total",
            "Times this worker's models process died and was started again.",
            registry=r,
        )
        self.models_fallbacks = Counter(
            "pulse_models_fallbacks_total",
            "The rules' user_top_recommendations answered by the popularity model because "
            "the models process did not answer in time.",
            registry=r,
        )
        self.models_wait = Histogram(
            "pulse_models_facts_wait_seconds",
            "How long the batch processor waited for a user's recommendations from the models "
            "process (answered or not).",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
            registry=r,
        )
        self.models_offset = Gauge(
            "pulse_models_feedback_offset",
            "Next feedback-log offset the models process (graph and recommender) will apply.",
            registry=r,
        )
        self.admin_requests = Counter(
            "pulse_admin_requests_total",
            "Admin endpoint requests, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )

    def render(self, only: tuple[str, ...] | None = None, without: tuple[str, ...] = ()) -> bytes:
        """The text exposition format of the registry's metrics: those whose names start
        with one of ``only`` (None: every one), except those starting with one of
        ``without``."""
        if only is None and not without:
            return generate_latest(self.registry)
        return generate_latest(_Some(self.registry, only, without))  # type: ignore[arg-type]


class _Some:
    """The metric families of a registry whose names pass :meth:`Metrics.render`'s test."""

    def __init__(
        self, registry: CollectorRegistry, only: tuple[str, ...] | None, without: tuple[str, ...]
    ):
        self.registry, self.only, self.without = registry, only, without

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            name = family.name
            if (self.only is None or name.startswith(self.only)) and not name.startswith(
                self.without
            ):
                yield family
