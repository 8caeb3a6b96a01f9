"""Sentiment engine on the committed fast model: predictions, batching, providers, bad models."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.exceptions import InvalidParameterError, ModelError
from models.sentiment import card as cards
from models.sentiment.engine import (
    DEFAULT_MODEL_DIR,
    PAD_BUDGET,
    Prediction,
    SentimentEngine,
    group_rows,
    verify_model,
)
from models.sentiment.exceptions import (
    InvalidModelError,
    ModelNotFoundError,
    ProviderUnavailableError,
)

POSITIVE = [
    "质量很好，物流也快，非常满意，五星好评！",
    "味道不错，送餐很快，还会再点",
    "Absolutely love it, works perfectly and the battery lasts for days.",
    "A wonderful, moving film with superb acting.",
]
NEGATIVE = [
    "太差了，根本不能用，申请退货。",
    "菜都凉了，等了两个小时，再也不点了",
    "Terrible quality. It broke after one day and support never answered.",
    "A boring, pointless mess of a movie.",
]
HAS_GPU = bool({"CUDAExecutionProvider"} & set(ort.get_available_providers()))


@pytest.fixture(scope="module")
def engine() -> SentimentEngine:
    return SentimentEngine.load(providers=("CPU",))


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    return folder


def test_loads_the_committed_model_with_its_card(engine: SentimentEngine) -> None:
    card = cards.read(DEFAULT_MODEL_DIR)
    assert card is not None
    assert engine.version == card["version"]
    assert engine.active_provider == "CPUExecutionProvider"
    assert engine.labels == ("negative", "positive")
    assert engine.path == DEFAULT_MODEL_DIR / card["default_file"]


def test_obvious_reviews_are_classified_right(engine: SentimentEngine) -> None:
    predictions = engine.predict(POSITIVE + NEGATIVE)
    assert [p.label for p in predictions] == ["positive"] * 4 + ["negative"] * 4
    assert all(isinstance(p, Prediction) for p in predictions)


def test_scores_are_in_range_and_agree_with_label_and_confidence(engine: SentimentEngine) -> None:
    texts = POSITIVE + NEGATIVE + ["", "😀", "ok", "x" * 5000]
    for p in engine.predict(texts):
        assert -1.0 <= p.score <= 1.0 and 0.5 <= p.confidence <= 1.0
        assert math.isclose(p.confidence, (1 + abs(p.score)) / 2, abs_tol=1e-6)
        assert p.label == ("positive" if p.score > 0 else "negative" if p.score < 0 else "neutral")


def test_empty_text_is_neutral_and_emoji_only_text_is_scored(engine: SentimentEngine) -> None:
    empty, blank, up, down = engine.predict(["", "   ", "👍👍", "👎"])
    assert empty == blank == Prediction(0.0, "neutral", 0.5)
    assert -1 < down.score < up.score < 1
    assert engine.predict([]) == []


def test_batches_keep_input_order_and_equal_one_by_one(engine: SentimentEngine) -> None:
    # Mixed lengths, more than one group and more than max_batch rows.
    texts = [t * k for k in (1, 9, 3, 25) for t in POSITIVE + NEGATIVE] + ["", "好"] * 5
    small = SentimentEngine.load(providers="cpu", max_batch=7, pad_budget=50)
    batch = small.probabilities(texts)
    single = np.concatenate([small.probabilities([t]) for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-6)
    assert [p.score for p in engine.predict(texts)] == pytest.approx(
        [p.score for p in small.predict(texts)], abs=1e-6
    )


def test_length_groups_cover_every_row_once_with_bounded_padding() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 400, size=1000)
    groups = group_rows(lengths, max_batch=64)
    assert sorted(np.concatenate(groups).tolist()) == list(range(1000))
    for g in groups:
        assert len(g) <= 64
        assert len(g) * lengths[g].max() - lengths[g].sum() <= PAD_BUDGET
    assert len(group_rows(np.array([1, 1000, 2]), 64, pad_budget=0)) == 3
    assert group_rows(np.array([], dtype=np.int64), 8) == []


def test_neutral_band_widens_neutral(engine: SentimentEngine) -> None:
    wide = SentimentEngine.load(providers=("CPU",), neutral_band=0.99)
    assert {p.label for p in wide.predict(["ok", "还行"])} == {"neutral"}
    with pytest.raises(InvalidParameterError, match="neutral_band"):
        SentimentEngine.load(neutral_band=1.5)
    with pytest.raises(InvalidParameterError, match="max_batch"):
        SentimentEngine.load(max_batch=0)


@pytest.mark.skipif(HAS_GPU, reason="this machine has CUDA: see the next test")
def test_require_gpu_without_one_fails_and_says_what_to_change() -> None:
    with pytest.raises(ProviderUnavailableError, match="onnxruntime-gpu.*or stop requiring a GPU"):
        SentimentEngine.load(providers=("CUDA", "CPU"), require_gpu=True)


@pytest.mark.skipif(not HAS_GPU, reason="needs onnxruntime with CUDA")
def test_require_gpu_with_one_runs_on_cuda() -> None:
    engine = SentimentEngine.load(providers=("CUDA", "CPU"), require_gpu=True)
    assert engine.active_provider == "CUDAExecutionProvider"
    assert [p.label for p in engine.predict(POSITIVE)] == ["positive"] * 4


@pytest.mark.skipif(HAS_GPU, reason="this machine has CUDA")
def test_cuda_first_falls_back_to_cpu_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="models.sentiment.runtime"):
        engine = SentimentEngine.load(providers=("CUDA", "CPU"))
    assert engine.active_provider == "CPUExecutionProvider"
    assert "CUDAExecutionProvider" in caplog.text


def test_verify_accepts_the_committed_model() -> None:
    assert verify_model(DEFAULT_MODEL_DIR).active_provider == "CPUExecutionProvider"


def test_a_broken_onnx_file_is_rejected_clearly(tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"\x08\x07not really a model" * 10)
    with pytest.raises(InvalidModelError, match="not a loadable ONNX model") as caught:
        verify_model(broken)
    assert str(broken) in str(caught.value)
    assert isinstance(caught.value, ModelError)


def test_a_truncated_model_is_rejected(tmp_path: Path) -> None:
    truncated = tmp_path / "model.int8.onnx"
    truncated.write_bytes((DEFAULT_MODEL_DIR / "model.int8.onnx").read_bytes()[:5000])
    with pytest.raises(InvalidModelError):
        verify_model(truncated)


def test_a_model_that_does_not_match_its_card_is_rejected(model_copy: Path) -> None:
    card = json.loads((model_copy / "card.json").read_text())
    for entry in card["files"].values():
        entry["sha256"] = "0" * 64
    (model_copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(InvalidModelError, match="does not match the sha256"):
        SentimentEngine.load(model_copy)


def test_missing_models_are_reported_by_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model file"):
        SentimentEngine.load(tmp_path / "nope.onnx")
    with pytest.raises(ModelNotFoundError, match="has no card.json"):
        SentimentEngine.load(tmp_path)


def test_model_with_another_featurizer_or_bad_outputs_is_rejected(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from models.sentiment import export

    table = np.zeros((64, 2), dtype=np.float32)
    table[1:] = np.random.default_rng(0).normal(size=(63, 2))
    spec = {"name": "hashed-ngrams", "version": 2, "n_buckets": 64, "max_chars": 64}
    spec |= {"subword": [0, 0], "cjk": [1, 3], "fingerprint": "deadbeef"}
    meta = {"labels": ["negative", "positive"], "featurizer": spec}
    export.save(table, meta, tmp_path / "drift.onnx", int8=True)
    with pytest.raises(InvalidModelError, match="different ids"):
        SentimentEngine.load(tmp_path / "drift.onnx")
    del spec["fingerprint"]
    export.save(table, meta, tmp_path / "ok.onnx", int8=False)
    assert len(verify_model(tmp_path / "ok.onnx").predict(["好"])) == 1
    export.save(np.zeros((64, 3), np.float32), meta, tmp_path / "three.onnx", int8=False)
    with pytest.raises(InvalidModelError, match="2 class probabilities"):
        SentimentEngine.load(tmp_path / "three.onnx")
