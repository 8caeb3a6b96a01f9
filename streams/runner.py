"""``pulse up``: broker, topics, worker processes, demo workload and live view, together.

With ``--observe`` it also runs a local Prometheus (Debian's ``prometheus``, when
installed) that finds every worker through a targets file (file-based discovery).
Ctrl-C (or ``--duration``) stops everything it started: the demo, Prometheus, then the
workers (SIGTERM, then SIGKILL after a grace period), then the embedded broker.
Children also die with this process if it is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.live import Live

from streams.broker import EmbeddedBroker, _die_with_parent
from streams.live import Observer, render, summary_line
from streams.producing import publish
from streams.prometheus import LocalPrometheus, prometheus_binary
from streams.settings import Settings, env_name
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

STOP_GRACE = 15.0


def worker_env(settings: Settings, bootstrap: str, index: int, flavor: str) -> dict[str, str]:
    """Environment of worker ``index``: the shared settings plus its own web port."""
    env = dict(os.environ)
    env[env_name("kafka_bootstrap")] = bootstrap
    env[env_name("kafka_flavor")] = flavor
    env[env_name("web_port")] = str(settings.web_port + index)
    env[env_name("data_dir")] = str(settings.data_dir / f"worker-{index}")
    return env


def spawn_worker(
    settings: Settings, bootstrap: str, index: int, flavor: str, logs: Path
) -> subprocess.Popen[bytes]:
    out = (logs / f"worker-{index}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=worker_env(settings, bootstrap, index, flavor),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )


def stop_workers(procs: list[subprocess.Popen[bytes]], grace: float = STOP_GRACE) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %d did not stop in %.0f s: killing it", proc.pid, grace)
            proc.kill()
            proc.wait()


def worker_targets(settings: Settings, workers: int) -> list[str]:
    """``host:port`` of each worker's /metrics, as Prometheus on this machine reaches them.

    >>> worker_targets(Settings(web_port=7000), 2)
    ['127.0.0.1:7000', '127.0.0.1:7001']
    """
    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
    return [f"{host}:{settings.web_port + i}" for i in range(workers)]


def start_prometheus(
    settings: Settings, workers: int, port: int, stack: contextlib.ExitStack, console: Console
) -> str | None:
    """A local Prometheus scraping the workers, stopped with ``stack``; its URL, or None
    (and why) when the ``prometheus`` binary is not installed."""
    if prometheus_binary() is None:
        console.print(
            "--observe: prometheus is not installed (`make prometheus`, or apt-get install "
            "prometheus); going on without it"
        )
        return None
    targets = worker_targets(settings, workers)
    prom = LocalPrometheus(settings.data_dir / "prometheus", targets, port=port)
    stack.enter_context(prom)
    assert prom.process is not None
    console.print(
        f"prometheus ready at {prom.url} (pid {prom.process.pid}), scraping {len(targets)} "
        f"worker(s) listed in {prom.folder / 'targets.json'}; alerts at {prom.url}/alerts"
    )
    return prom.url


def run_up(
    settings: Settings,
    workers: int,
    demo: bool,
    duration: float | None,
    observe: bool = False,
    prometheus_port: int = 9090,
) -> None:
    console = Console(stderr=False)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        bootstrap, flavor = settings.kafka_bootstrap, settings.kafka_flavor
        if bootstrap is None:
            broker = EmbeddedBroker(
                ready_timeout=settings.broker_ready_timeout, log_file=logs / "broker.log"
            )
            bootstrap, flavor = stack.enter_context(broker).bootstrap, "tansu"
            assert broker.process is not None
            console.print(f"embedded broker ready at {bootstrap} (pid {broker.process.pid})")
        asyncio.run(ensure_topics(settings, bootstrap))
        procs = [spawn_worker(settings, bootstrap, i, flavor, logs) for i in range(workers)]
        stack.callback(stop_workers, procs)
        urls = [f"http://{settings.web_host}:{settings.web_port + i}" for i in range(workers)]
        pids = ", ".join(str(p.pid) for p in procs)
        console.print(f"{workers} worker(s) (pid {pids}): {', '.join(urls)}; logs in {logs}")
        observer = Observer(settings, bootstrap, urls)
        if observe:
            observer.prometheus_url = start_prometheus(
                settings, workers, prometheus_port, stack, console
            )
        console.print("Ctrl-C stops everything")
        try:
            asyncio.run(_supervise(settings, bootstrap, procs, observer, demo, duration, console))
        except KeyboardInterrupt:
            console.print("stopping: demo, workers, broker")
    console.print("stopped")


async def _supervise(
    settings: Settings,
    bootstrap: str,
    procs: list[subprocess.Popen[bytes]],
    observer: Observer,
    demo: bool,
    duration: float | None,
    console: Console,
) -> None:
    tasks = [asyncio.create_task(observer.follow())]
    if demo:
        tasks.append(asyncio.create_task(_demo(settings, bootstrap, observer)))
    try:
        await _watch(observer, procs, duration, console)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _watch(
    observer: Observer,
    procs: list[subprocess.Popen[bytes]],
    duration: float | None,
    console: Console,
) -> None:
    deadline = time.monotonic() + duration if duration else None
    timeout = aiohttp.ClientTimeout(total=2.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        live = Live(console=console, auto_refresh=False) if console.is_terminal else None
        with live or contextlib.nullcontext():
            while deadline is None or time.monotonic() < deadline:
                snap = await observer.poll(session)
                if live is not None:
                    live.update(render(snap, observer), refresh=True)
                else:
                    console.print(summary_line(snap, observer))
                _check_alive(procs, console)
                await asyncio.sleep(1.0 if live is not None else 2.0)


def _check_alive(procs: list[subprocess.Popen[bytes]], console: Console) -> None:
    for i, proc in enumerate(procs):
        if proc.poll() is not None:
            raise SystemExit(f"worker {i} exited with code {proc.returncode}: see its log")


async def _demo(settings: Settings, bootstrap: str, observer: Observer) -> None:
    from streams.demo import DemoWorkload

    # A per-run id prefix: a second run on a persistent cluster is new traffic, not a replay.
    run_id = f"demo-{settings.demo_seed}-{int(time.time())}"
    workload = DemoWorkload(seed=settings.demo_seed, clock=time.time, id_prefix=run_id)

    def sent(topic: str, n: int) -> None:
        observer.produced += n

    await publish(
        settings, bootstrap, [("products", e) for e in workload.initial_catalog()], on_sent=sent
    )
    await publish(settings, bootstrap, iter(workload), rate=settings.demo_rate, on_sent=sent)
