"""The command line without a broker: schemas, settings, and clear failures."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from streams.cli import cli
from streams.settings import settings_table

runner = CliRunner()


def test_schema_prints_json_schema_of_every_topic() -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    schemas = json.loads(result.output)
    assert set(schemas) == {"reviews", "clicks", "sales", "products", "decisions"}
    assert "event_id" in schemas["clicks"]["required"]


def test_config_markdown_is_the_settings_table() -> None:
    result = runner.invoke(cli, ["config", "--markdown"])
    assert result.exit_code == 0
    assert result.output.strip() == settings_table()


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=60,
    )


def test_bad_setting_fails_at_start_naming_it() -> None:
    result = run("worker", PULSE_PARTITIONS="lots")
    assert result.returncode == 2
    assert "PULSE_PARTITIONS=lots" in result.stderr


def test_produce_without_bootstrap_says_what_to_set() -> None:
    result = run("produce", "clicks", "/dev/null")
    assert result.returncode == 2
    assert "PULSE_KAFKA_BOOTSTRAP" in result.stderr


def test_config_masks_secrets() -> None:
    env = {"PULSE_KAFKA_SASL_PASSWORD": "hunter2-secret", "PULSE_ADMIN_TOKEN": "tok-secret"}
    out = CliRunner().invoke(cli, ["config"], env=env)
    assert out.exit_code == 0, out.output
    assert "hunter2" not in out.output and "tok-secret" not in out.output
    assert "kafka_sasl_password = **********" in out.output
