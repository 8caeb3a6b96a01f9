"""The Chinese best tier: jieba word features, the sqrt-norm graph with a bias, its training
code on toy data, and the committed model folder (served through the router)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.sentiment import card as cards
from models.sentiment import export
from models.sentiment.engine import DEFAULT_MODEL_DIR, SentimentEngine, verify_model
from models.sentiment.features import PROBE_TEXTS, Featurizer, fingerprint

ARTIFACTS = DEFAULT_MODEL_DIR.parent
CHINESE = ARTIFACTS / "sentiment-zh"
POSITIVE = ["质量很好，物流也快，五星好评！", "味道很好，送餐也快，下次还点。"]
NEGATIVE = ["太差了，根本不能用，退货。", "等了两个小时，饭都凉了，难吃。"]


def test_word_features_are_opt_in_and_leave_the_fast_tier_ids_alone() -> None:
    plain, words = Featurizer(), Featurizer(words="jieba")
    assert fingerprint(plain, PROBE_TEXTS) == "11d989c4"  # the fast tier's pinned fingerprint
    assert "words" not in plain.to_dict() and Featurizer.from_dict(plain.to_dict()) == plain
    assert Featurizer.from_dict(words.to_dict()) == words and words.to_dict()["jieba"]
    text = "质量很好，物流也快"
    assert set(plain.ids(text)) < set(words.ids(text))
    assert words.ids("Great value, works well") == plain.ids("Great value, works well")
    assert words.ids("") == [] and words.ids(text) == words.ids(text)
    with pytest.raises(ValueError):
        Featurizer(words="spacy")


def test_word_features_ignore_words_added_to_the_global_jieba_dictionary() -> None:
    import jieba

    f = Featurizer(words="jieba")
    before = f.ids("这家外卖的小龙虾真不错")
    jieba.add_word("小龙虾真不错")
    try:
        assert f.ids("这家外卖的小龙虾真不错") == before
    finally:
        jieba.del_word("小龙虾真不错")


def test_sqrt_graph_with_bias_computes_its_formula(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="building a graph needs the train extra (onnx)")
    rng = np.random.default_rng(0)
    table = rng.normal(size=(64, 2)).astype(np.float32)
    table[0] = 0.0
    bias = np.array([-0.3, 0.3], dtype=np.float32)
    meta = {"name": "t", "version": "t", "labels": ["negative", "positive"]}
    path = export.save(table, meta, tmp_path / "m.onnx", False, 0.0, "sqrt", bias)
    ids = np.array([[3, 5, 5, 0], [7, 0, 0, 0], [0, 0, 0, 0]], dtype=np.int64)
    got = ort.InferenceSession(str(path)).run(None, {"ids": ids})[0]
    n = np.maximum((ids > 0).sum(1, keepdims=True), 1)
    logits = table[ids].sum(1) / np.sqrt(n) + bias * (ids > 0).any(1, keepdims=True)
    want = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        export.build(table, meta, False, norm="l2")


def test_training_code_fits_a_toy_corpus_and_the_graph_keeps_its_labels(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from models.sentiment import train_zh

    good, bad = ["很好", "不错", "好吃", "喜欢", "满意"], ["太差", "难吃", "失望", "很慢", "退货"]
    rng = np.random.default_rng(1)
    texts, labels = [], []
    for _ in range(200):
        y = int(rng.integers(2))
        words = rng.choice(good if y else bad, 3).tolist() + rng.choice(good + bad, 1).tolist()
        texts.append("，".join(words))
        labels.append(y)
    f = Featurizer(1 << 12, words="jieba")
    x, y = train_zh.counts(f, texts), np.array(labels)
    w, b = train_zh.fit(x, y, train_zh.Candidate(3.0))
    scores = train_zh.scaled(x) @ w + b
    assert train_zh.balanced(y, scores) > 0.9
    t = train_zh.temperature(scores, y)
    table = np.stack([-w / 2, w / 2], axis=1) / t
    meta = {"name": "t", "version": "t", "labels": ["negative", "positive"]}
    path = export.save(
        table, meta, tmp_path / "m.onnx", False, 0.0, "sqrt", np.array([-b, b]) / 2 / t
    )
    served = ort.InferenceSession(str(path)).run(None, {"ids": f.batch(texts).padded()})[0]
    assert ((served[:, 1] > 0.5) == (scores > 0)).all()
    lex = (train_zh.counts(f, ["好", "差"]), np.array([1, 0]))
    w2, _ = train_zh.fit(x, y, train_zh.Candidate(3.0, lexicon=1.0), lex)
    assert w2.shape == w.shape


def _folder(path: Path) -> Path:
    """A committed model folder: missing is a broken checkout, never a skip."""
    assert (path / cards.CARD).is_file(), f"{path} lacks its {cards.CARD}: it is committed"
    return path


def test_chinese_tier_verifies_and_classifies_obvious_reviews() -> None:
    engine = verify_model(_folder(CHINESE))
    card = cards.read(CHINESE)
    assert card is not None and engine.version == card["version"]
    assert card["languages"] == ["zh"] and card["featurizer"]["words"] == "jieba"
    assert engine.path.stat().st_size < 8_000_000
    labels = [p.label for p in engine.predict(POSITIVE + NEGATIVE + [""])]
    assert labels == ["positive"] * 2 + ["negative"] * 2 + ["neutral"]


def test_chinese_card_records_its_selection_and_one_heldout_figure() -> None:
    card = cards.read(_folder(CHINESE))
    assert card is not None
    rows = card["training"]["selection"]["domain_dev"]
    assert rows and all({"水果", "蒙牛", "酒店", "mean"} <= set(r) for r in rows)
    assert set(card["heldout"]) == {"chn_waimai_10k"}


def test_the_router_sends_chinese_to_the_chinese_tier() -> None:
    router = _folder(ARTIFACTS / "sentiment-accurate")
    card = cards.read(router)
    assert card is not None and card["routes"]["cjk"] == "../sentiment-zh"
    engine = SentimentEngine.load(router, providers="cpu")
    chinese = SentimentEngine.load(_folder(CHINESE), providers="cpu")
    assert engine.predict(POSITIVE + NEGATIVE) == chinese.predict(POSITIVE + NEGATIVE)
