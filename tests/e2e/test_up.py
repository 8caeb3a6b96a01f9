"""`pulse up` as a user runs it: embedded broker, a worker, the demo, then Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from streams.broker import free_port
from tests.e2e import interruptible

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has stopped running all the same.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_up_streams_the_demo_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PULSE_WEB_PORT": str(free_port()),
        "PULSE_DATA_DIR": str(tmp_path),
        "PULSE_DEMO_RATE": "300",
    }
    env.pop("PULSE_KAFKA_BOOTSTRAP", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.search(r"processed (\d+)", line)
        if m and int(m.group(1)) > 500 and "dead letters 0 " not in line:
            break
    else:
        proc.kill()
        pytest.fail("no processed events and dead letters within 60 s:\n" + "".join(lines))
    health = f"http://127.0.0.1:{env['PULSE_WEB_PORT']}/health"
    with urllib.request.urlopen(health, timeout=10) as response:
        models_pid = json.loads(response.read())["models_process"]  # the worker's child
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    print(f"\nstopped {time.monotonic() - started:.1f} s after Ctrl-C")
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "stopped" in text
    broker_pid = int(re.search(r"embedded broker ready at \S+ \(pid (\d+)\)", text).group(1))
    worker_pids = [
        int(p) for p in re.search(r"worker\(s\) \(pid ([\d, ]+)\)", text).group(1).split(",")
    ]
    for pid in [broker_pid, *worker_pids, models_pid]:
        assert not alive(pid), f"process {pid} outlived `pulse up`"
