"""The docker compose stack, checked without a Docker engine: files parse, images are pinned,
references point at defined services, declared volumes and existing files, every long-running
service has a healthcheck and a memory limit, Prometheus scrapes exactly the workers, and the
images install Pulse with its default model as a non-root user."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.sentiment import DEFAULT_MODEL_DIR
from streams.settings import Settings
from streams.topics import partition_counts
from tests.docker.conftest import DOCKER

ROOT = DOCKER.parent
COMPOSE_FILES = ("compose.yaml", "compose.observability.yaml", "compose.gpu.yaml")
DOCKERFILES = ("Dockerfile", "Dockerfile.cuda")
PULSE_IMAGES = {"pulse", "pulse-cuda"}  # built here, from DOCKERFILES
ONE_SHOT = {"topics"}  # runs to completion: no healthcheck
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def env() -> dict[str, str]:
    values = {}
    for line in (DOCKER / ".env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ``${VAR}`` / ``${VAR:-default}``; an unknown variable fails the test."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        assert name in values or default is not None, f"${{{name}}} is not in docker/.env"
        return values.get(name, default or "")

    return _VAR.sub(value, text)


def compose(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(interpolate((DOCKER / name).read_text(), env())))


def services() -> dict[str, dict[str, Any]]:
    """Services of the core and observability files (the GPU file only overrides)."""
    out: dict[str, dict[str, Any]] = {}
    for name in COMPOSE_FILES[:2]:
        out.update(compose(name)["services"])
    return out


def pinned(image: str) -> bool:
    """A registry image with an exact version tag or a digest; never ``latest``.

    >>> [pinned(i) for i in ("apache/kafka:3.8.0", "grafana/grafana", "x:latest", "x:3")]
    [True, False, False, False]
    """
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return (
        bool(name)
        and "/" not in tag
        and re.fullmatch(r"v?\d+\.\d+(\.\d+)?([.-]\S+)?", tag) is not None
    )


def test_every_variable_is_defined_and_compose_file_lists_existing_files() -> None:
    for name in COMPOSE_FILES:
        compose(name)  # fails on an undefined ${VAR}
    for name in env()["COMPOSE_FILE"].split(":"):
        assert (DOCKER / name).is_file(), name


def test_every_image_is_pinned_or_built_here_from_a_pinned_base() -> None:
    for name in COMPOSE_FILES:
        for service, spec in compose(name)["services"].items():
            image = spec.get("image")
            if image is None:
                continue
            if image.split(":")[0] in PULSE_IMAGES:
                build = spec["build"]  # the Dockerfile's path is relative to the context
                assert (DOCKER / build["context"] / build["dockerfile"]).is_file(), service
                assert pinned(image), f"{service}: {image}"
            else:
                assert pinned(image), f"{name} {service}: {image} is not pinned"
    for dockerfile in DOCKERFILES:
        text = (DOCKER / dockerfile).read_text()
        args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
        for base in re.findall(r"^FROM (\S+)", text, re.M):
            image = args.get(base.strip("${}"), base)
            assert pinned(image), f"{dockerfile}: FROM {image}"


def test_references_point_at_defined_services_volumes_and_existing_files() -> None:
    defined = services()
    volumes = set()
    for name in COMPOSE_FILES[:2]:
        volumes |= set((compose(name).get("volumes") or {}).keys())
    for service, spec in defined.items():
        for dependency in spec.get("depends_on", {}):
            assert dependency in defined, f"{service} depends on unknown {dependency}"
        for mount in spec.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{service} mounts missing {source}"
            else:
                assert source in volumes, f"{service} uses undeclared volume {source}"
    assert set(compose("compose.gpu.yaml")["services"]) <= set(defined), "GPU file adds services"


def test_long_running_services_have_healthchecks_and_memory_limits() -> None:
    for service, spec in services().items():
        assert spec["deploy"]["resources"]["limits"]["memory"], service
        if service not in ONE_SHOT:
            assert spec["healthcheck"]["test"], service
    ports = [p.split(":")[0] for s in services().values() for p in s.get("ports", [])]
    assert len(ports) == len(set(ports)), f"host ports collide: {ports}"


def workers() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if s.get("image", "").startswith("pulse:")}


def test_prometheus_scrapes_exactly_the_worker_services_and_grafana_reaches_it() -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "pulse"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    expected = {f"{n}:{s['environment']['PULSE_WEB_PORT']}" for n, s in workers().items()}
    assert len(expected) >= 2 and targets == expected
    for spec in workers().values():
        assert spec["environment"]["PULSE_WEB_HOST"] == "0.0.0.0"  # reachable from prometheus
        assert spec["environment"]["PULSE_KAFKA_BOOTSTRAP"] == "kafka:9092"
    source = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services()
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/var/lib/grafana/dashboards/pulse.json"
    assert (DOCKER / "grafana" / "dashboards" / "pulse.json").is_file()


def test_the_topics_service_creates_pulses_topics_with_their_partition_counts() -> None:
    script = (DOCKER / "kafka" / "create-topics.sh").read_text()
    many = set(re.search(r"for topic in ([^;]+);", script).group(1).split())  # type: ignore[union-attr]
    single = set(re.findall(r"^create (\S+) 1$", script, re.M))
    counts = partition_counts(Settings())
    assert many == {t for t, n in counts.items() if n > 1}
    assert single == {t for t, n in counts.items() if n == 1} == {"feedback"}


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker's ignore rules leave ``path`` out of the build context: the last
    matching pattern wins, ``!`` takes back in, and a pattern matching a folder matches
    everything in it (a close enough model of Docker's for these files).

    >>> ignored("streams/app.py", ["*", "!streams/"]), ignored(".venv/bin/x", ["*", "!streams/"])
    (False, True)
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for raw in patterns:
        pattern = raw.removeprefix("!").rstrip("/")
        anywhere = pattern.startswith("**/")
        pattern = pattern.removeprefix("**/")
        for prefix in prefixes:
            name = prefix.rsplit("/", 1)[-1] if anywhere else prefix
            if fnmatch.fnmatchcase(name, pattern):
                result = not raw.startswith("!")
                break
    return result


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_images_install_pulse_with_its_default_model_as_a_non_root_user(dockerfile: str) -> None:
    text = (DOCKER / dockerfile).read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}, "the image runs as root"
    for source in re.findall(r"^COPY (?!--)(\S+) ", text, re.M):
        assert (ROOT / source).exists(), f"{dockerfile} copies missing {source}"
    patterns = [
        line.strip()
        for line in (DOCKER / f"{dockerfile}.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    model_files = [p.relative_to(ROOT).as_posix() for p in DEFAULT_MODEL_DIR.iterdir()]
    assert "models/artifacts/sentiment-fast/model.int8.onnx" in model_files
    for kept in [*model_files, "streams/app.py", "rules/default/sales.yaml", "pyproject.toml"]:
        assert not ignored(kept, patterns), f"{dockerfile}'s context leaves out {kept}"
    for left in [
        ".venv/bin/python",
        "tests/conftest.py",
        "streams/__pycache__/app.cpython-311.pyc",
    ]:
        assert ignored(left, patterns), f"{dockerfile}'s context sends {left}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'models = ["artifacts/*/*"]' in pyproject, "the model is package data"
    assert re.search(r"pip install '?\.(\[gpu\])?'?", text), "a regular install (package data)"


def test_the_cpu_image_is_slim_and_the_gpu_image_runs_onnxruntime_gpu() -> None:
    assert "-slim" in re.search(
        r"^ARG PYTHON_IMAGE=(\S+)", (DOCKER / "Dockerfile").read_text(), re.M
    ).group(1)  # type: ignore[union-attr]
    cuda = (DOCKER / "Dockerfile.cuda").read_text()
    assert "onnxruntime-gpu" in cuda and "CUDAExecutionProvider" in cuda
    gpu = compose("compose.gpu.yaml")["services"]
    for spec in gpu.values():
        (device,) = spec["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


def test_docker_compose_accepts_the_files_when_it_is_installed(tmp_path: Path) -> None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        command = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose"]
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    files = [a for name in COMPOSE_FILES for a in ("-f", str(DOCKER / name))]
    done = subprocess.run(
        [*command, "--project-directory", str(DOCKER), *files, "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DOCKER,
    )
    assert done.returncode == 0, done.stderr
