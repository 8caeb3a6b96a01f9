"""Hashed n-gram featurizer: determinism (across processes too), truncation, edge-case texts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.sentiment.features import (
    PROBE_TEXTS,
    Featurizer,
    fingerprint,
    normalize,
)

TEXTS = [
    "质量很好，物流也快，五星好评！",
    "",
    "This is great, I love it!",
    "😡😡",
    "太差了 totally broken 😤 退货",
    "x" * 3000,
    "   ",
    "Ｆｕｌｌｗｉｄｔｈ ＴＥＸＴ",
]


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer()


def test_known_ids_never_change(featurizer: Featurizer) -> None:
    # Pinned values: a change here silently breaks every model trained before it.
    assert featurizer.ids("好评") == [598012, 59137, 48773]
    assert featurizer.ids("not bad") == [324490, 998224, 389352]
    assert fingerprint(featurizer, PROBE_TEXTS) == "11d989c4"


def test_ids_are_the_same_in_processes_with_other_hash_seeds(featurizer: Featurizer) -> None:
    code = (
        "import json, sys; from models.sentiment.features import Featurizer; "
        "print(json.dumps([Featurizer().ids(t) for t in json.loads(sys.argv[1])]))"
    )
    expected = [featurizer.ids(t) for t in TEXTS]
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(TEXTS)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(out.stdout) == expected


def test_batch_rows_equal_single_texts_in_order(featurizer: Featurizer) -> None:
    batch = featurizer.batch(TEXTS)
    assert len(batch.offsets) == len(TEXTS) + 1
    for i, text in enumerate(TEXTS):
        assert batch.ids[batch.offsets[i] : batch.offsets[i + 1]].tolist() == featurizer.ids(text)


def test_padded_matrix_holds_each_row_then_zeros(featurizer: Featurizer) -> None:
    batch = featurizer.batch(TEXTS)
    matrix = batch.padded()
    assert matrix.shape == (len(TEXTS), batch.lengths.max())
    for i, text in enumerate(TEXTS):
        ids = featurizer.ids(text)
        assert matrix[i, : len(ids)].tolist() == ids
        assert not matrix[i, len(ids) :].any()
    rows = np.array([2, 0])
    assert batch.padded(rows)[1, : batch.lengths[0]].tolist() == featurizer.ids(TEXTS[0])


def test_long_text_is_cut_to_max_chars() -> None:
    short = Featurizer(max_chars=20)
    text = "好" * 20 + "差" * 500
    assert short.ids(text) == short.ids("好" * 20)
    assert len(short.ids("好吃" * 10_000)) <= 3 * 20
    assert len(normalize("a" * 10_000, max_chars=512)) == 512


def test_empty_and_blank_texts_have_no_features(featurizer: Featurizer) -> None:
    assert featurizer.ids("") == featurizer.ids(" \n\t") == []
    assert featurizer.batch([]).ids.size == 0
    assert featurizer.batch(["", ""]).padded().shape == (2, 1)


def test_emoji_are_spelled_as_the_words_of_their_names(featurizer: Featurizer) -> None:
    assert featurizer.ids("😀") == featurizer.ids("grinning face")
    assert featurizer.ids("👍🏽") == featurizer.ids("👍") == featurizer.ids("thumbs up sign")
    assert featurizer.ids("❤️") == featurizer.ids("heavy black heart")
    assert len(featurizer.ids("\U000f0001")) == 1  # a private-use symbol stays one token


def test_symbols_are_features(featurizer: Featurizer) -> None:
    assert len(featurizer.ids("!!")) == 3  # two unigrams and one bigram
    assert featurizer.ids("good!") != featurizer.ids("good")


def test_mixed_language_text_has_both_kinds_of_features(featurizer: Featurizer) -> None:
    mixed = featurizer.ids("好 good")
    assert sorted(mixed) == sorted(featurizer.ids("好") + featurizer.ids("good"))


def test_normalisation_folds_width_case_and_contractions(featurizer: Featurizer) -> None:
    assert normalize("ＧＯＯＤ，Ｉｔ’ｓ") == "good,it's"
    assert featurizer.ids("It doesn’t work") == featurizer.ids("it does n't work")
    assert featurizer.ids("\ufeff好") == featurizer.ids("好")


def test_ids_stay_in_range_and_zero_is_padding_only() -> None:
    small = Featurizer(n_buckets=16)
    ids = small.batch(TEXTS).ids
    assert ids.min() >= 1 and ids.max() < 16


def test_card_spec_round_trips_and_rejects_another_featurizer() -> None:
    f = Featurizer(n_buckets=1 << 10, max_chars=64, subword=(3, 4), cjk=(1, 2))
    assert Featurizer.from_dict(json.loads(json.dumps(f.to_dict()))) == f
    with pytest.raises(ValueError, match="not this code's"):
        Featurizer.from_dict({**f.to_dict(), "version": 99})


def test_subwords_add_character_ngrams_of_words() -> None:
    plain, sub = Featurizer(), Featurizer(subword=(3, 4))
    # '<great>' has five 3-grams and four 4-grams
    assert len(sub.ids("great")) == len(plain.ids("great")) + 5 + 4
    assert sub.ids("好") == plain.ids("好")


def test_a_non_string_is_refused(featurizer: Featurizer) -> None:
    with pytest.raises(TypeError, match="text 1 is NoneType"):
        featurizer.batch(["ok", None])  # type: ignore[list-item]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=6))
def test_any_text_gives_valid_ids_and_batching_changes_nothing(texts: list[str]) -> None:
    f = Featurizer(n_buckets=1 << 12)
    batch = f.batch(texts)
    assert batch.ids.dtype == np.int64
    assert ((batch.ids >= 1) & (batch.ids < 1 << 12)).all()
    assert [f.ids(t) for t in texts] == [
        batch.ids[batch.offsets[i] : batch.offsets[i + 1]].tolist() for i in range(len(texts))
    ]
