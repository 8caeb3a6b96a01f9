"""``pulse``: the command line.

Every command that talks to Kafka uses ``--bootstrap`` / ``PULSE_KAFKA_BOOTSTRAP``
when given, and otherwise starts the embedded broker (``up``, ``broker``,
``worker``) or says that one is needed (``produce``, ``replay``, ``tail``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from streams.exceptions import ConfigurationError, PulseError
from streams.runtime import configure_logging
from streams.settings import Settings, load_settings, settings_table

cli = typer.Typer(
    name="pulse",
    no_args_is_help=True,
    add_completion=False,
    help="Pulse: real-time product intelligence over Kafka.",
)

Bootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap", "-b", help="Kafka bootstrap servers; default PULSE_KAFKA_BOOTSTRAP."
    ),
]


def _settings(bootstrap: str | None = None, **overrides: Any) -> Settings:
    if bootstrap:
        overrides["kafka_bootstrap"] = bootstrap
    return load_settings(**overrides)


def _need_bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise ConfigurationError(
            "PULSE_KAFKA_BOOTSTRAP is not set: pass --bootstrap HOST:PORT (the address "
            "`pulse up` or `pulse broker` printed)"
        )
    return settings.kafka_bootstrap


@cli.command()
def up(
    bootstrap: Bootstrap = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Worker processes.")] = 1,
    demo: Annotated[bool, typer.Option(help="Stream the demo workload and show it live.")] = True,
    rate: Annotated[float | None, typer.Option(help="Demo events/s (PULSE_DEMO_RATE).")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    observe: Annotated[
        bool, typer.Option(help="Also run a local Prometheus (if installed) on the workers.")
    ] = False,
    prometheus_port: Annotated[
        int, typer.Option(min=1, max=65_535, help="Port of --observe's Prometheus.")
    ] = 9090,
) -> None:
    """Run Pulse: broker (embedded unless --bootstrap), topics, workers, demo, live view."""
    from streams.runner import run_up

    settings = _settings(bootstrap, **({"demo_rate": rate} if rate else {}))
    run_up(
        settings,
        workers=workers,
        demo=demo,
        duration=duration,
        observe=observe,
        prometheus_port=prometheus_port,
    )


@cli.command()
def worker(bootstrap: Bootstrap = None) -> None:
    """Run one worker in the foreground (embedded broker unless --bootstrap)."""
    from streams.worker import run_worker

    settings = _settings(bootstrap)
    configure_logging(settings.log_level)
    run_worker(settings)


@cli.command()
def broker(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 9092,
    topics: Annotated[bool, typer.Option(help="Create Pulse's topics too.")] = True,
) -> None:
    """Start the embedded Kafka-protocol broker and wait for Ctrl-C."""
    from streams.broker import EmbeddedBroker
    from streams.topics import ensure_topics

    settings = _settings()
    with EmbeddedBroker(port=port, ready_timeout=settings.broker_ready_timeout) as running:
        if topics:
            asyncio.run(ensure_topics(settings, running.bootstrap))
        typer.echo(f"broker ready: export PULSE_KAFKA_BOOTSTRAP={running.bootstrap}")
        try:
            while running.process and running.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            typer.echo("stopping broker")


@cli.command()
def produce(
    topic: Annotated[str, typer.Argument(help="Logical topic: reviews, clicks, sales, products.")],
    file: Annotated[Path | None, typer.Argument(help="JSON-lines file; default stdin.")] = None,
    bootstrap: Bootstrap = None,
    rate: Annotated[float | None, typer.Option(help="Events/s; default flat out.")] = None,
) -> None:
    """Publish JSON lines to a topic, keyed by their product_id."""
    from streams.producing import json_lines, publish

    settings = _settings(bootstrap)
    stream = file.open("rb") if file else sys.stdin.buffer
    with stream:
        n = asyncio.run(
            publish(settings, _need_bootstrap(settings), json_lines(topic, stream), rate)
        )
    typer.echo(f"published {n} messages to {settings.topic(topic)}")


@cli.command()
def replay(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Dataset file.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="movielens, taobao, retail, reviews.")
    ] = None,
    bootstrap: Bootstrap = None,
    rate: Annotated[float | None, typer.Option(help="Events/s; default flat out.")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many rows.")] = None,
) -> None:
    """Replay a public dataset (MovieLens, Taobao, UCI Online Retail, Amazon reviews)."""
    from streams.replaying import replay_file

    settings = _settings(bootstrap)
    replay_file(settings, _need_bootstrap(settings), path, fmt=fmt, rate=rate, limit=limit)


@cli.command()
def tail(
    topic: Annotated[str, typer.Argument(help="Logical topic, e.g. decisions or deadletter.")],
    bootstrap: Bootstrap = None,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest message.")] = False,
    limit: Annotated[int | None, typer.Option("-n", help="Stop after N messages.")] = None,
) -> None:
    """Print a topic's messages as JSON lines (headers included), until Ctrl-C."""
    from streams.tailing import tail_topic

    settings = _settings(bootstrap)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail_topic(settings, _need_bootstrap(settings), topic, from_beginning, limit))


@cli.command()
def schema(
    topic: Annotated[str | None, typer.Argument(help="One topic; default all.")] = None,
) -> None:
    """Print the JSON Schemas of the event topics, for producers in any language."""
    from streams.schemas import json_schemas

    schemas = json_schemas()
    if topic is not None and topic not in schemas:
        raise ConfigurationError(f"no schema for {topic!r}; topics: {', '.join(schemas)}")
    out = schemas[topic] if topic else schemas
    typer.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


@cli.command()
def config(
    markdown: Annotated[bool, typer.Option(help="Print the README's settings table.")] = False,
) -> None:
    """Print the effective settings (secrets masked), or the table of all settings."""
    if markdown:
        typer.echo(settings_table())
        return
    for name, value in _settings().model_dump().items():
        typer.echo(f"{name} = {value}")


model_cli = typer.Typer(no_args_is_help=True, help="Sentiment models: train, verify, swap.")
cli.add_typer(model_cli, name="model")


@model_cli.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def model_train(ctx: typer.Context) -> None:
    """Train the fast sentiment model from ../shared/data (needs the 'train' extra; --help)."""
    from models.sentiment.train import main as train_main

    code = train_main(ctx.args)
    if code:
        raise typer.Exit(code)


@model_cli.command("verify")
def model_verify(
    path: Annotated[Path, typer.Argument(exists=True, help="An .onnx file or a model folder.")],
) -> None:
    """Load a model as a worker would, prove it serves, and print what it is."""
    from streams.sentiment import LiveModel, load_engine

    settings = _settings()
    try:
        engine = load_engine(settings, path)
    except Exception as exc:  # every reason to reject is printed the same way
        raise ConfigurationError(f"{path} cannot serve: {exc}") from exc
    from streams.metrics import Metrics

    info = LiveModel(engine, settings, Metrics()).describe()
    probes = ["质量很好，非常满意", "It broke after one day. Awful."]
    info["probe"] = {t: p._asdict() for t, p in zip(probes, engine.predict(probes), strict=True)}
    typer.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())


@model_cli.command("swap")
def model_swap(
    path: Annotated[str, typer.Argument(help="Model path as the worker sees it.")],
    url: Annotated[
        list[str] | None,
        typer.Option(
            help="Worker base URL; repeat for each worker [default: http://127.0.0.1:6066]."
        ),
    ] = None,
) -> None:
    """Ask running workers to switch model (PULSE_ADMIN_TOKEN must match theirs)."""
    import urllib.error
    import urllib.request

    url = url or ["http://127.0.0.1:6066"]
    token = _settings().admin_token
    if token is None:
        raise ConfigurationError("PULSE_ADMIN_TOKEN is not set: export the workers' admin token")
    failed = 0
    for base in url:
        request = urllib.request.Request(
            f"{base.rstrip('/')}/admin/model",
            data=orjson.dumps({"path": path}),
            headers={
                "Authorization": f"Bearer {token.get_secret_value()}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                typer.echo(f"{base}: {response.read().decode()}")
        except urllib.error.HTTPError as exc:
            failed += 1
            typer.secho(f"{base}: {exc.code} {exc.read().decode()}", err=True, fg="red")
        except OSError as exc:
            failed += 1
            typer.secho(f"{base}: {exc}", err=True, fg="red")
    if failed:
        raise typer.Exit(1)


rules_cli = typer.Typer(no_args_is_help=True, help="Rule files: check, test, list.")
cli.add_typer(rules_cli, name="rules")

RulePath = Annotated[
    Path | None,
    typer.Argument(help="A rule file or folder; default PULSE_RULES_PATH (the bundled pack)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _rule_path(path: Path | None) -> Path:
    from rules import DEFAULT_RULES

    return path or _settings().rules_path or DEFAULT_RULES


def _report(report: Any, as_json: bool) -> None:
    text = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()
    typer.echo(text if as_json else report.to_text())
    if not report.ok:
        raise typer.Exit(1)


@rules_cli.command("check")
def rules_check(path: RulePath = None, as_json: AsJson = False) -> None:
    """Validate rules: every error with file, line, rule id and reason (exit 1 if any)."""
    from rules import check

    _report(check(_rule_path(path)), as_json)


@rules_cli.command("test")
def rules_test(
    path: RulePath = None,
    facts: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="YAML/JSON list of fact cases.")
    ] = Path("facts.yaml"),
    as_json: AsJson = False,
) -> None:
    """Which rules fire on each case of facts, why the others do not, and their decisions."""
    from rules import run_test

    _report(run_test(_rule_path(path), facts), as_json)


@rules_cli.command("list")
def rules_list(path: RulePath = None, as_json: AsJson = False) -> None:
    """One line per rule: id, version, triggers, action, priority, enabled."""
    from rules import RuleError, list_rules

    try:
        rows = list_rules(_rule_path(path))
    except RuleError as exc:
        raise ConfigurationError(str(exc)) from exc
    if as_json:
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for r in rows:
        flag = "" if r.get("enabled", True) else " (disabled)"
        triggers = ",".join(r.get("triggers", []))
        typer.echo(
            f"{r['id']} v{r['version']} [{triggers}] -> {r['action']} p{r['priority']}{flag}"
        )


check_cli = typer.Typer(no_args_is_help=True, help="Audit a running Pulse.")
cli.add_typer(check_cli, name="check")


@check_cli.command("delivery")
def check_delivery(
    worker: Annotated[
        list[str],
        typer.Option("--worker", "-w", help="A worker's HTTP address; repeat for each worker."),
    ],
    dataset: Annotated[
        list[Path] | None,
        typer.Option(exists=True, dir_okay=False, help="A dataset file that was replayed."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="The --limit it was replayed with.")] = None,
    lines: Annotated[
        list[str] | None,
        typer.Option(help="TOPIC=FILE: a JSON-lines file that was published with `pulse produce`."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Longest wait for outputs to add up, s.")] = 120.0,
    bootstrap: Bootstrap = None,
    as_json: AsJson = False,
) -> None:
    """Prove that everything published was applied once: state, outputs, dead letters, decisions.

    Give every source that was published to this topic prefix, in the order it was sent;
    exit 1 when an event was lost or doubled or a decision id repeated.
    """
    from streams.accounting import Observer, expect, wait_for_delivery
    from streams.producing import Item, json_lines
    from streams.replay import read_dataset

    settings = _settings(bootstrap)
    ledger: list[Item] = []
    for path in dataset or []:
        ledger.extend(read_dataset(path, limit=limit))  # type: ignore[arg-type]
    for spec in lines or []:
        topic, _, name = spec.partition("=")
        if not name:
            raise ConfigurationError(f"--lines wants TOPIC=FILE, got {spec!r}")
        with Path(name).open("rb") as f:
            ledger.extend(json_lines(topic, f))
    if not ledger:
        raise ConfigurationError("nothing to account for: give --dataset or --lines")
    expected = expect(ledger, settings.max_payload_bytes, settings.max_future_skew)

    async def run() -> Any:
        async with Observer(settings, _need_bootstrap(settings), worker) as observer:
            return await wait_for_delivery(expected, observer, timeout=timeout)

    report = asyncio.run(run())
    text = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()
    typer.echo(text if as_json else report.summary())
    if not report.ok:
        raise typer.Exit(1)


def main() -> None:
    try:
        cli()
    except PulseError as exc:
        typer.secho(f"pulse: {exc}", err=True, fg="red")
        sys.exit(2)


if __name__ == "__main__":
    main()
