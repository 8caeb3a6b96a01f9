"""A Pulse worker as a real OS process: for integration tests, benchmarks and audits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from streams.broker import free_port
from streams.live import event_counts


class WorkerProcess:
    """``pulse worker`` on a given broker, topic prefix and data folder."""

    def __init__(self, bootstrap: str, prefix: str, folder: Path, extra_env: dict[str, str]):
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.folder = folder
        self.extra_env = extra_env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_after: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PULSE_KAFKA_BOOTSTRAP": self.bootstrap,
            "PULSE_KAFKA_FLAVOR": "tansu",
            "PULSE_TOPIC_PREFIX": self.prefix,
            "PULSE_APP_ID": self.prefix.rstrip("."),
            "PULSE_WEB_PORT": str(self.port),
            "PULSE_DATA_DIR": str(self.folder),
            "PULSE_LOG_LEVEL": "info",
            **self.extra_env,
        }

    def start(self, ready_timeout: float = 30.0) -> WorkerProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "worker.log").open("ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.wait_ready(ready_timeout)
        self.ready_after = time.monotonic() - started
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if self.get("/health").get("ready"):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready within {timeout} s:\n{self.log_tail()}")

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        """POST JSON; (HTTP status, decoded answer)."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            return str(response.read().decode())

    def event_counts(self) -> dict[tuple[str, str], float]:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            return event_counts(response.read().decode())

    def seen_total(self) -> float:
        """Input messages this worker has accounted for, whatever their outcome."""
        return sum(self.event_counts().values())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, n: int = 40) -> str:
        path = self.folder / "worker.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""
        )
