"""One frozen settings object: every setting, its environment variable and default.

Nothing else in Pulse reads ``os.environ``. Each field is read from ``PULSE_<NAME>``;
bad values fail at start with a :class:`~streams.exceptions.ConfigurationError`
naming the variable.

>>> Settings().partitions
4
>>> load_settings({"PULSE_PARTITIONS": "0"})
Traceback (most recent call last):
...
streams.exceptions.ConfigurationError: PULSE_PARTITIONS=0: Input should be greater than or equal to 1
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.exceptions import ConfigurationError

ENV_PREFIX = "PULSE_"
#: Fields whose values never appear in messages, logs or ``pulse config``.
SECRETS = frozenset({"kafka_sasl_password", "admin_token"})

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Settings(BaseSettings):
    """Pulse's configuration. Field docstrings become the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", validate_default=True
    )

    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers (host:port,...). Unset: start the embedded broker.",
    )
    kafka_flavor: Literal["kafka", "tansu"] = Field(
        "kafka",
        description="'tansu' works around the embedded broker's end-offset bug; set by `pulse up`.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism with SASL_PLAINTEXT / SASL_SSL."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (never printed or logged)."
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="CA bundle (PEM) that signed the brokers' certificates; unset: the system's.",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="Client certificate (PEM) when brokers require mutual TLS."
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="Private key (PEM) of PULSE_KAFKA_SSL_CERTFILE."
    )
    app_id: str = Field(
        "pulse", min_length=1, description="Faust app id (consumer group, changelog names)."
    )
    topic_prefix: str = Field("", description="Prefix added to every topic name, e.g. 'shop1.'.")
    partitions: int = Field(
        4, ge=1, le=1024, description="Partitions of the input and output topics."
    )
    replication_factor: int = Field(
        1, ge=1, le=16, description="Replication factor of created topics."
    )
    session_timeout: Seconds = Field(
        6.0,
        description="Consumer group session timeout, s (the embedded broker holds joins ~half of it).",
    )
    max_payload_bytes: int = Field(
        65_536, ge=256, le=16 * 1024 * 1024, description="Largest accepted event payload, bytes."
    )
    max_future_skew: Seconds = Field(
        86_400.0, description="Events stamped further ahead of the worker's clock are rejected, s."
    )
    batch_size: int = Field(
        500, ge=1, le=100_000, description="Events an agent processes per batch."
    )
    batch_within: Seconds = Field(0.02, description="Longest wait to fill a batch, s.")
    uvloop: bool = Field(
        True, description="Run the worker on uvloop's event loop (when installed)."
    )
    gc_freeze_interval: float = Field(
        10.0,
        ge=0,
        le=3_600,
        allow_inf_nan=False,
        description="Every this many seconds the worker takes the objects then alive out of Python's cyclic garbage collection (gc.freeze), s; 0: never.",
    )
    blas_threads: int = Field(
        1,
        ge=0,
        le=1024,
        description="Threads of numpy's BLAS in the worker and its models process; 0: the library's own choice (one per core). Its extra threads spin between the recommender's small products, costing about 3x the CPU for 2x the speed.",
    )
    fetch_max_wait: float = Field(
        0.05,
        gt=0,
        le=30,
        allow_inf_nan=False,
        description="Longest a consumer's fetch waits at the broker for new data, s (the embedded broker answers only when it expires).",
    )
    dedup_horizon: Seconds = Field(
        7 * 86_400.0,
        description="How long an event_id is remembered for deduplication, s of event time.",
    )
    popularity_half_life: Seconds = Field(
        6 * 3_600.0,
        description="Half-life of the popularity recommender's scores, s of event time.",
    )
    replica_dedup_ids: int = Field(
        1_000_000,
        ge=1_000,
        description="Event ids each feedback replica remembers to drop repeats.",
    )
    models_process: bool = Field(
        True,
        description="Run the knowledge graph and the hybrid recommender in a process of their own beside the worker (it follows the same feedback log; the views and the rules' user_top_recommendations ask it over a local socket). false: on the worker's event loop.",
    )
    graph_enabled: bool = Field(
        True,
        description="Keep the knowledge graph replica (users, products, aspects) on this worker.",
    )
    graph_half_life: Seconds = Field(
        7 * 86_400.0,
        description="Half-life of the knowledge graph's edge weights, s of event time.",
    )
    graph_min_weight: float = Field(
        0.05,
        ge=0,
        allow_inf_nan=False,
        description="Graph edges whose decayed weight falls below this are pruned.",
    )
    graph_max_edges: int = Field(
        2_000_000,
        ge=10,
        le=1 << 28,
        description="Most graph edges (~190 bytes each); over it the weakest go.",
    )
    graph_max_nodes: int = Field(
        1_000_000,
        ge=10,
        le=1 << 28,
        description="Most graph nodes; over it the least recently seen go, with their edges.",
    )
    graph_max_bytes: int | None = Field(
        None,
        ge=1_000_000,
        description="Most estimated bytes of the graph, never passed (weakest edges go); unset: no byte cap.",
    )
    graph_snapshot_interval: float = Field(
        300.0,
        ge=0,
        le=86_400,
        allow_inf_nan=False,
        description="How often the graph and its feedback-log offset are snapshotted, s; 0: never.",
    )
    snapshot_fork: bool = Field(
        True,
        description="Take graph and recommender snapshots in a forked child (copy-on-write): the worker pauses only for the fork and its heap does not grow with the copy. false: copy in the worker, write in a thread. Ignored where the platform cannot fork.",
    )
    graph_snapshot_dir: Path | None = Field(
        None,
        description="Folder of graph snapshots. Unset: <PULSE_DATA_DIR>/<PULSE_APP_ID>/graph.",
    )
    reco_enabled: bool = Field(
        True,
        description="Serve /recommendations and the rules' user_top_recommendations from the hybrid recommender (false: popularity).",
    )
    reco_half_life: Seconds = Field(
        7 * 86_400.0,
        description="Half-life of the hybrid's co-occurrence and popularity, s of event time.",
    )
    reco_seed: int = Field(
        0, ge=0, description="Seed of the hybrid recommender (same on every worker)."
    )
    reco_max_users: int = Field(
        200_000,
        ge=1,
        le=1 << 28,
        description="Most users the hybrid recommender keeps; over it the least recently active is forgotten (same on every worker).",
    )
    reco_max_items: int = Field(
        100_000,
        ge=1,
        le=1 << 28,
        description="Most items the hybrid recommender keeps; over it the least recently touched is forgotten, with its co-occurrences (same on every worker).",
    )
    reco_snapshot_interval: float = Field(
        300.0,
        ge=0,
        le=86_400,
        allow_inf_nan=False,
        description="How often the recommender and its feedback-log offset are snapshotted, s; 0: never.",
    )
    reco_snapshot_dir: Path | None = Field(
        None,
        description="Folder of recommender snapshots. Unset: <PULSE_DATA_DIR>/<PULSE_APP_ID>/reco.",
    )
    reco_eval_every: int = Field(
        100,
        ge=0,
        le=1_000_000,
        description="Every Nth interaction of a known user with an item new to them is scored before it is learned (prequential HR@10); 0: never.",
    )
    reco_facts_ttl: float = Field(
        5.0,
        ge=0,
        le=3_600,
        allow_inf_nan=False,
        description="How long a user's user_top_recommendations fact is reused, s; 0: computed per event.",
    )
    web_host: str = Field("127.0.0.1", description="Address the HTTP API and /metrics bind to.")
    web_port: int = Field(6066, ge=1, le=65_535, description="Port of the HTTP API and /metrics.")
    data_dir: Path = Field(Path(".pulse"), description="Folder for worker data (tables, logs).")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )
    demo_rate: float = Field(200.0, gt=0, le=1e6, description="Demo workload rate, events/s.")
    demo_seed: int = Field(7, description="Seed of the demo workload generator.")
    sentiment_model: Path | None = Field(
        None,
        description="Sentiment model: an .onnx file or a folder with card.json. Unset: the bundled fast model.",
    )
    sentiment_providers: str = Field(
        "auto",
        description="ONNX Runtime providers in order, e.g. 'cuda,cpu'; 'auto': CUDA when offered, else CPU.",
    )
    sentiment_require_gpu: bool = Field(
        False, description="Fail at start (and refuse swaps) unless the model runs on a GPU."
    )
    sentiment_threads: int = Field(
        1, ge=0, le=256, description="ONNX Runtime intra-op threads per worker; 0: its choice."
    )
    sentiment_max_batch: int = Field(
        256, ge=1, le=65_536, description="Most reviews per ONNX Runtime call."
    )
    rules_path: Path | None = Field(
        None,
        description="Rule file or folder of *.yaml rules. Unset: the bundled default pack.",
    )
    rules_watch_interval: float = Field(
        2.0,
        ge=0,
        le=3_600,
        allow_inf_nan=False,
        description="How often workers look for changed rule files, s; 0: never.",
    )
    tick_interval: float = Field(
        60.0,
        ge=0,
        le=86_400,
        allow_inf_nan=False,
        description="How often 'tick' rules re-read every active product's windows, s; 0: never.",
    )
    lag_interval: float = Field(
        5.0,
        gt=0,
        le=3_600,
        allow_inf_nan=False,
        description="How often each worker measures its consumer lag (committed vs end offsets), s.",
    )
    decision_retention: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="Keep dedup/cooldown memory this long, s of event time; 0: what the rules need (>= 1 day).",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for admin endpoints (rule reload, model swap); unset: disabled.",
    )
    broker_ready_timeout: Seconds = Field(
        20.0, description="Longest wait for the embedded broker to answer, s."
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_hosts(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
        return value.strip()

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"PULSE_KAFKA_SECURITY_PROTOCOL={protocol} needs PULSE_KAFKA_SASL_USERNAME and "
                "PULSE_KAFKA_SASL_PASSWORD"
            )
        files = {
            "PULSE_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "PULSE_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "PULSE_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        given = [name for name, path in files.items() if path is not None]
        if given and not protocol.endswith("SSL"):
            raise ValueError(
                f"{', '.join(given)} set but PULSE_KAFKA_SECURITY_PROTOCOL={protocol}: "
                "use SSL or SASL_SSL, or unset them"
            )
        for name, path in files.items():
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path}: no such file")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("PULSE_KAFKA_SSL_CERTFILE and PULSE_KAFKA_SSL_KEYFILE go together")
        return self

    @field_validator("sentiment_providers")
    @classmethod
    def _providers(cls, value: str) -> str:
        known = ("auto", "cuda", "gpu", "tensorrt", "rocm", "cpu")
        items = [p.strip() for p in value.split(",") if p.strip()]
        bad = [p for p in items if p.lower() not in known and not p.endswith("ExecutionProvider")]
        if not items or bad or ("auto" in value.lower() and len(items) > 1):
            raise ValueError(
                "expected 'auto' or a comma-separated list of cuda, tensorrt, rocm, cpu "
                f"(or ONNX Runtime provider names), got {value!r}"
            )
        return value

    def graph_folder(self) -> Path:
        """Where this worker's graph snapshots live."""
        return self.graph_snapshot_dir or self.data_dir / self.app_id / "graph"

    def reco_folder(self) -> Path:
        """Where this worker's recommender snapshots live."""
        return self.reco_snapshot_dir or self.data_dir / self.app_id / "reco"

    def topic(self, name: str) -> str:
        """The real topic name for logical ``name``."""
        return f"{self.topic_prefix}{name}"


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (or ``env``), failing with a clear message."""
    try:
        if env is None:
            return Settings(**overrides)  # type: ignore[arg-type]
        values = {
            k.removeprefix(ENV_PREFIX).lower(): v
            for k, v in env.items()
            if k.startswith(ENV_PREFIX)
        }
        return Settings(**{**values, **overrides})  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a check across fields names its variables itself
            lines.append(message)
            continue
        field = str(err["loc"][0])
        shown = "***" if field in SECRETS else err.get("input")
        lines.append(f"{env_name(field)}={shown!s}: {message}")
    return "; ".join(lines)


def settings_table() -> str:
    """The README's configuration table, generated from the fields above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "(unset)" if field.default is None else f"`{field.default!s}`"
        default = '`""`' if field.default == "" else default
        rows.append(f"| `{env_name(name)}` | {default} | {field.description} |")
    return "\n".join(rows)
