"""A local Prometheus server (Debian's ``prometheus`` package) scraping Pulse's workers.

``pulse up --observe`` and the observability tests run it with the files of
``docker/prometheus/``: ``pulse-up.yml`` and ``alerts.yml`` are copied into a folder
of their own, and ``targets.json`` beside them lists the workers (file-based
service discovery: Prometheus rereads it when it changes).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from streams.broker import _die_with_parent, free_port, terminate
from streams.exceptions import ConfigurationError

log = logging.getLogger(__name__)

#: Prometheus files of a source checkout (they are not part of the installed package).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "docker" / "prometheus"
CONFIG_FILES = ("pulse-up.yml", "alerts.yml")


def prometheus_binary() -> str | None:
    """The ``prometheus`` executable on PATH, or None."""
    return shutil.which("prometheus")


def write_targets(folder: Path, targets: list[str], labels: dict[str, str] | None = None) -> Path:
    """Write ``targets.json`` atomically (Prometheus never reads half a file).

    >>> import tempfile
    >>> path = write_targets(Path(tempfile.mkdtemp()), ["127.0.0.1:6066"])
    >>> json.loads(path.read_text())
    [{'targets': ['127.0.0.1:6066'], 'labels': {'deployment': 'pulse-up'}}]
    """
    path = folder / "targets.json"
    tmp = folder / ".targets.json.tmp"
    groups = [{"targets": targets, "labels": labels or {"deployment": "pulse-up"}}]
    tmp.write_text(json.dumps(groups))
    os.replace(tmp, path)
    return path


class LocalPrometheus:
    """Prometheus on 127.0.0.1, its config and data in ``folder``; a context manager.

    ``scrape_interval`` overrides the config's (tests scrape every second).
    """

    def __init__(
        self,
        folder: Path,
        targets: list[str],
        port: int = 0,
        scrape_interval: str | None = None,
        ready_timeout: float = 30.0,
    ):
        self.folder = folder
        self.targets = targets
        self.port = port or free_port()
        self.scrape_interval = scrape_interval
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.folder / "prometheus.log"

    def prepare(self) -> Path:
        """Copy the config and rules into the folder, write the targets; the config's path."""
        missing = [name for name in CONFIG_FILES if not (CONFIG_DIR / name).is_file()]
        if missing:
            raise ConfigurationError(
                f"{', '.join(missing)} not found in {CONFIG_DIR}: --observe needs a source "
                "checkout of Pulse (docker/prometheus/)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load((CONFIG_DIR / "pulse-up.yml").read_text())
        if self.scrape_interval:
            config["global"]["scrape_interval"] = self.scrape_interval
            config["global"]["evaluation_interval"] = self.scrape_interval
            for job in config["scrape_configs"]:
                for sd in job.get("file_sd_configs", ()):
                    sd["refresh_interval"] = self.scrape_interval
        (self.folder / "pulse-up.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        shutil.copy(CONFIG_DIR / "alerts.yml", self.folder / "alerts.yml")
        write_targets(self.folder, self.targets)
        return self.folder / "pulse-up.yml"

    def start(self) -> LocalPrometheus:
        binary = prometheus_binary()
        if binary is None:
            raise ConfigurationError(
                "prometheus is not installed: `make prometheus` (Debian: apt-get install prometheus)"
            )
        config = self.prepare()
        cmd = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process = subprocess.Popen(
            cmd,
            stdout=self.log_file.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        self._wait_ready()
        log.info("prometheus ready on %s (pid %d)", self.url, self.process.pid)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ConfigurationError(
                    f"prometheus exited with code {self.process.returncode} at start "
                    f"(port {self.port} busy?): see {self.log_file}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ConfigurationError(f"prometheus not ready on {self.url} in {self.ready_timeout} s")

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; the decoded answer (errors included, with their status)."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:  # 400/422: a bad query, with the reason
            return json.loads(exc.read())

    def query(self, expr: str) -> Any:
        """An instant query: Prometheus' answer (``status``, ``data.result``, ``error``)."""
        return self.api("query", query=expr)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        terminate(proc, timeout)

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()
