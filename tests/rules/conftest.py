"""Fixtures for the rules engine: the default pack, a store, a rule-file writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rules import DEFAULT_RULES, MemoryStore, RuleSet, load_rules


@pytest.fixture(scope="session")
def default_rules() -> RuleSet:
    return load_rules(DEFAULT_RULES)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def write_rules(tmp_path: Path) -> Callable[..., Path]:
    """Write rule YAML text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "rules.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
