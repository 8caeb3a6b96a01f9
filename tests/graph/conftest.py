"""Real event and review data for the graph tests (skipped when ../shared/data is absent)."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.graph.records import Record, taobao_records


@pytest.fixture
def taobao(shared_data: Path) -> Callable[[int | None], list[Record]]:
    path = shared_data / "ecom_taobao_userbehavior_sample" / "UserBehavior_sample.csv"
    return lambda limit=None: list(taobao_records(path, limit))


@pytest.fixture
def zh_reviews(shared_data: Path) -> list[dict[str, str]]:
    path = shared_data / "chn_online_shopping_10_cats" / "online_shopping_10_cats.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [{**row, "review": row["review"].replace("\ufeff", "")} for row in csv.DictReader(f)]


@pytest.fixture
def en_reviews(shared_data: Path) -> list[dict[str, str]]:
    path = shared_data / "en_amazon_multidomain_sentiment" / "multidomain_sentiment_labeled.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))
