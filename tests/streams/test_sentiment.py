"""The worker's live model: start fails loudly on a bad model; swaps verify, then switch."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from models.exceptions import ModelError
from models.sentiment import DEFAULT_MODEL_DIR
from streams.exceptions import ConfigurationError
from streams.metrics import Metrics
from streams.sentiment import LiveModel
from streams.settings import load_settings


def test_a_missing_model_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    settings = load_settings(sentiment_model=tmp_path / "nope.onnx")
    with pytest.raises(ConfigurationError, match="PULSE_SENTIMENT_MODEL"):
        LiveModel.start(settings, Metrics())


def test_requiring_a_gpu_without_one_fails_at_start() -> None:
    settings = load_settings(sentiment_providers="cpu", sentiment_require_gpu=True)
    with pytest.raises(ConfigurationError, match="GPU is required"):
        LiveModel.start(settings, Metrics())


@pytest.mark.parametrize("value", ["", "cuda,warp", "auto,cpu"])
def test_unknown_providers_are_rejected(value: str) -> None:
    with pytest.raises(ConfigurationError, match="PULSE_SENTIMENT_PROVIDERS"):
        load_settings(sentiment_providers=value)


def test_swap_keeps_the_running_model_on_a_broken_one_and_switches_on_a_good_one(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    live = LiveModel.start(load_settings(sentiment_providers="cpu"), metrics)
    before = live.version
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01garbage")
    with pytest.raises(ModelError):
        asyncio.run(live.swap(broken))
    assert live.version == before and live(["很好"])[0].label == "positive"

    good = tmp_path / "good"
    shutil.copytree(DEFAULT_MODEL_DIR, good)
    card = json.loads((good / "card.json").read_text())
    (good / "card.json").write_text(json.dumps({**card, "version": "v-next"}))
    assert asyncio.run(live.swap(good))["version"] == "v-next"
    assert live.version == "v-next" and live.swaps == 1
    text = metrics.render().decode()
    assert 'pulse_sentiment_model_swaps_total{outcome="rejected"} 1.0' in text
    assert 'pulse_sentiment_model_info{version="v-next"} 1.0' in text
    assert before not in text


def test_a_tampered_model_file_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    model = folder / "model.int8.onnx"
    model.write_bytes(model.read_bytes() + b"\x00")
    live = LiveModel.start(load_settings(sentiment_providers="cpu"), Metrics())
    with pytest.raises(ModelError, match="sha256"):
        asyncio.run(live.swap(folder))
