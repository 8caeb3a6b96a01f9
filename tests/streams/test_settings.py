"""Settings: defaults, environment variables, and clear failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.exceptions import ConfigurationError
from streams.settings import Settings, env_name, load_settings, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_overrides_defaults() -> None:
    s = load_settings({"PULSE_PARTITIONS": "8", "PULSE_TOPIC_PREFIX": "shop1."})
    assert s.partitions == 8
    assert s.topic("clicks") == "shop1.clicks"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PULSE_PARTITIONS": "many"}, "PULSE_PARTITIONS"),
        ({"PULSE_KAFKA_BOOTSTRAP": "localhost"}, "PULSE_KAFKA_BOOTSTRAP"),
        ({"PULSE_SESSION_TIMEOUT": "-1"}, "PULSE_SESSION_TIMEOUT"),
        ({"PULSE_LOG_LEVEL": "loud"}, "PULSE_LOG_LEVEL"),
        ({"PULSE_WEB_PORT": "70000"}, "PULSE_WEB_PORT"),
    ],
)
def test_bad_values_fail_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_settings(env)


def test_settings_are_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        Settings().partitions = 3  # type: ignore[misc]


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    for name in Settings.model_fields:
        assert f"`{env_name(name)}`" in text, f"README's configuration table lacks {env_name(name)}"
    assert settings_table() in text, "README's table differs from `pulse config --markdown`"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PULSE_KAFKA_SASL_USERNAME": "u"},
         "PULSE_KAFKA_SASL_PASSWORD"),
        ({"PULSE_KAFKA_SSL_CAFILE": "/etc/hostname"}, "PULSE_KAFKA_SECURITY_PROTOCOL"),
        ({"PULSE_KAFKA_SECURITY_PROTOCOL": "SSL", "PULSE_KAFKA_SSL_CAFILE": "/no/ca.pem"},
         "PULSE_KAFKA_SSL_CAFILE"),
        ({"PULSE_KAFKA_SECURITY_PROTOCOL": "SSL", "PULSE_KAFKA_SSL_CERTFILE": "/etc/hostname"},
         "PULSE_KAFKA_SSL_KEYFILE"),
        ({"PULSE_KAFKA_SASL_MECHANISM": "GSSAPI"}, "PULSE_KAFKA_SASL_MECHANISM"),
    ],
)  # fmt: skip
def test_bad_kafka_security_fails_naming_what_to_set(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_settings(env)


def test_secrets_never_appear_in_messages() -> None:
    secret = "hunter2-very-secret"
    with pytest.raises(ConfigurationError) as failed:
        load_settings(
            {"PULSE_KAFKA_SASL_PASSWORD": secret, "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
        )
    assert secret not in str(failed.value)
    settings = load_settings(
        {"PULSE_KAFKA_SASL_PASSWORD": secret, "PULSE_ADMIN_TOKEN": secret, "PULSE_KAFKA_SASL_USERNAME": "u",
         "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    )  # fmt: skip
    assert secret not in repr(settings) and secret not in str(settings.model_dump())
