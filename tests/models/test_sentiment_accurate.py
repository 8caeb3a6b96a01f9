"""The committed accurate tiers: they load without torch, verify, and get obvious reviews right."""

from __future__ import annotations

from pathlib import Path

from models.sentiment import card as cards
from models.sentiment.engine import DEFAULT_MODEL_DIR, SentimentEngine, verify_model

ARTIFACTS = DEFAULT_MODEL_DIR.parent
ENGLISH = ARTIFACTS / "sentiment-accurate-en"
POSITIVE = ["Absolutely love it, works perfectly.", "A wonderful, moving film with superb acting."]
NEGATIVE = ["Terrible quality, it broke after one day.", "A boring, pointless mess of a movie."]


def _folder(path: Path) -> Path:
    """A committed model folder: missing is a broken checkout, never a skip."""
    assert (path / cards.CARD).is_file(), f"{path} lacks its {cards.CARD}: it is committed"
    return path


def test_english_accurate_tier_verifies_and_classifies_obvious_reviews() -> None:
    engine = verify_model(_folder(ENGLISH))
    card = cards.read(ENGLISH)
    assert card is not None and engine.version == card["version"]
    assert engine.path.name == card["default_file"] == "model.int8.onnx"
    labels = [p.label for p in engine.predict(POSITIVE + NEGATIVE + ["", "👍👍👍"])]
    assert labels == ["positive"] * 2 + ["negative"] * 2 + ["neutral", "positive"]


def test_english_card_reports_heldout_accuracy_measured_after_training() -> None:
    card = cards.read(_folder(ENGLISH))
    assert card is not None and card["heldout"] and card["training"]["dev"]["step"] > 0
    assert set(card["heldout"]) == {
        "en_sst2_test",
        "en_uci_amazon_cells",
        "en_uci_yelp",
        "en_uci_imdb",
    }


def test_the_long_tail_of_text_is_handled(tmp_path: Path) -> None:
    engine = SentimentEngine.load(_folder(ENGLISH), providers="cpu")
    odd = ["x" * 1_000_000, "\ufeff", "🙂" * 300, "ok\x00ok", "混合 text 很好 great"]
    for p in engine.predict(odd):
        assert -1.0 <= p.score <= 1.0


def test_the_router_folder_serves_both_tiers_by_script() -> None:
    router = _folder(ARTIFACTS / "sentiment-accurate")
    _folder(ENGLISH)
    engine = verify_model(router)
    assert engine.labels == ("negative", "positive") and len(engine.tiers) == 2
    chinese = ["质量很好，物流也快，五星好评！", "太差了，根本不能用，退货。"]
    english = POSITIVE + NEGATIVE
    card = cards.read(router)
    assert card is not None
    cjk = SentimentEngine.load(router / card["routes"]["cjk"], providers="cpu")
    other = SentimentEngine.load(ENGLISH, providers="cpu")
    got = engine.predict(chinese + english)
    assert got[:2] == cjk.predict(chinese)
    assert [p.label for p in got[2:]] == [p.label for p in other.predict(english)]
    assert [p.label for p in got] == ["positive", "negative"] * 1 + ["positive"] * 2 + [
        "negative"
    ] * 2
