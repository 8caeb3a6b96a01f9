"""Hot reload: a valid set replaces the old one at once; an invalid one is rejected and the old stays."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rules import MemoryStore, RuleRegistry, RuleValidationError
from tests.rules.helpers import GOOD_RULE, T0, make_facts

SECOND = GOOD_RULE.replace("id: good", "id: second").replace("views_1h > 100", "views_1h > 10")


def _touch(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime on, so a fast rewrite is still seen as a change."""
    stat = path.stat() if path.exists() else None
    path.write_text(text, encoding="utf-8")
    if stat is not None:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_invalid_set_at_start_fails_fast(write_rules: Callable[..., Path]) -> None:
    path = write_rules(GOOD_RULE.replace("views_1h", "views_2h"))
    with pytest.raises(RuleValidationError, match="unknown fact 'views_2h'"):
        RuleRegistry(path)


def test_invalid_reload_keeps_the_running_rules(write_rules: Callable[..., Path]) -> None:
    path = write_rules(GOOD_RULE)
    registry = RuleRegistry(path)
    before = registry.current
    _touch(path, GOOD_RULE + SECOND.replace("action: review_price", "action: reprice"))
    result = registry.reload_if_changed()
    assert result is not None and not result.ok
    assert "unknown action 'reprice'" in result.message and "previous rules kept" in result.message
    assert registry.current is before
    assert (registry.loads_total, registry.failures_total) == (1, 1)
    assert registry.last_errors[0].rule_id == "second"
    facts = make_facts("tick", views_1h=150)
    assert [d.rule_id for d in registry.current.evaluate("tick", facts, MemoryStore(), now=T0)] == [
        "good"
    ]
    assert registry.reload_if_changed() is None  # the broken file is not retried until it changes


def test_valid_reload_swaps_the_whole_set(write_rules: Callable[..., Path]) -> None:
    path = write_rules(GOOD_RULE)
    registry = RuleRegistry(path)
    old = registry.current
    _touch(path, GOOD_RULE + SECOND)
    result = registry.reload_if_changed()
    assert result is not None and result.ok and result.rules == 2
    assert registry.current is not old
    assert [r.id for r in old.rules] == ["good"]  # an evaluation holding the old set is unaffected
    assert [r.id for r in registry.current.rules_for("tick")] == ["good", "second"]
    assert registry.reload_if_changed() is None


def test_folder_reload_sees_new_and_removed_files(write_rules: Callable[..., Path]) -> None:
    first = write_rules(GOOD_RULE, "pack/a.yaml")
    registry = RuleRegistry(first.parent)
    extra = write_rules(SECOND, "pack/b.yaml")
    assert registry.reload_if_changed() is not None and len(registry.current) == 2
    extra.unlink()
    assert registry.reload_if_changed() is not None and len(registry.current) == 1


def test_deleting_every_rule_file_is_a_failed_reload(write_rules: Callable[..., Path]) -> None:
    path = write_rules(GOOD_RULE, "pack/a.yaml")
    registry = RuleRegistry(path.parent)
    path.unlink()
    result = registry.reload()
    assert not result.ok and "no rule files" in result.message
    assert len(registry.current) == 1
