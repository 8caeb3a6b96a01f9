"""`pulse up --observe --workers 2`: a local Prometheus finds both workers through its targets
file, scrapes them and loads the alert rules; Ctrl-C stops it with everything else."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.broker import free_port
from streams.prometheus import prometheus_binary
from tests.e2e import interruptible
from tests.e2e.test_up import alive

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        prometheus_binary() is None,
        reason="prometheus not installed: `make prometheus` installs Debian's package",
    ),
]


def api(url: str, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{query}", timeout=10) as answer:
        return json.loads(answer.read())["data"]


def test_up_observe_scrapes_every_worker_and_stops_with_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PULSE_WEB_PORT": str(free_port()),
        "PULSE_DATA_DIR": str(tmp_path),
        "PULSE_DEMO_RATE": "200",
    }
    env.pop("PULSE_KAFKA_BOOTSTRAP", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "up", "--observe", "--workers", "2"]
        + ["--prometheus-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts two workers slowly
        while time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
            m = re.search(r"processed (\d+)", lines[-1])
            if m and int(m.group(1)) > 200 and "workers ready 2/2" in lines[-1]:
                break
        else:
            pytest.fail("no processed events within 180 s:\n" + "".join(lines))
        text = "".join(lines)
        url, pid = re.search(r"prometheus ready at (\S+) \(pid (\d+)\)", text).groups()  # type: ignore[union-attr]
        assert url == f"http://127.0.0.1:{port}"
        up: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60  # file_sd and the first scrapes: 5 s intervals
        while time.monotonic() < deadline:
            up = [t for t in api(url, "targets")["activeTargets"] if t["health"] == "up"]
            if len(up) == 2:
                break
            time.sleep(1.0)
        assert sorted(t["labels"]["instance"] for t in up) == [
            f"127.0.0.1:{int(env['PULSE_WEB_PORT']) + i}" for i in range(2)
        ]
        (events,) = api(url, "query", query="sum(pulse_stream_events_total)")["result"]
        assert float(events["value"][1]) > 0
        rules = [r for g in api(url, "rules")["groups"] for r in g["rules"]]
        assert len(rules) >= 5 and all(r["health"] == "ok" for r in rules)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + out
    assert not alive(int(pid)), "prometheus outlived `pulse up`"
