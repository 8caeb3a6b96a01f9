"""The active rule set, and hot reload: a new valid set replaces the old one in one step.

An invalid set is rejected with its errors and the previous rules stay active.
Reading :attr:`RuleRegistry.current` once per event gives that event one
consistent set, whatever a reload does meanwhile.

>>> from rules import DEFAULT_RULES
>>> registry = RuleRegistry(DEFAULT_RULES)
>>> result = registry.reload()
>>> result.ok, registry.loads_total, registry.failures_total
(True, 2, 0)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rules.engine import RuleSet
from rules.exceptions import RuleError
from rules.loader import collect_rules, rule_files


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: ``ok`` (the new set is active) or the errors that kept the old one."""

    ok: bool
    rules: int
    errors: tuple[RuleError, ...] = ()

    @property
    def message(self) -> str:
        if self.ok:
            return f"{self.rules} rules active"
        return "; ".join(str(e) for e in self.errors) + " (previous rules kept)"


class RuleRegistry:
    """Holds the active :class:`RuleSet` loaded from ``path`` and swaps it on reload.

    The first load happens in the constructor and raises on an invalid set, so a
    worker fails at start with a message that says what to fix.
    ``loads_total`` and ``failures_total`` count reloads for the caller's metrics.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.loads_total = 0
        self.failures_total = 0
        self.last_errors: tuple[RuleError, ...] = ()
        self._lock = threading.Lock()
        self._current = RuleSet(())
        self._stamp = self._fingerprint()
        result = self.reload()
        if not result.ok:
            raise result.errors[0]

    @property
    def current(self) -> RuleSet:
        """The active rule set (read it once per event)."""
        return self._current

    def reload(self) -> ReloadResult:
        """Load ``path`` again; swap in the new set only when every rule in it is valid."""
        with self._lock:
            stamp = self._fingerprint()
            rules, errors = collect_rules(self.path)
            self._stamp = stamp
            if errors:
                self.failures_total += 1
                self.last_errors = tuple(errors)
                return ReloadResult(
                    False, len(self._current) if self.loads_total else 0, tuple(errors)
                )
            self._current = RuleSet(rules, source=str(self.path))
            self.loads_total += 1
            self.last_errors = ()
            return ReloadResult(True, len(rules))

    def reload_if_changed(self) -> ReloadResult | None:
        """Reload when a rule file was added, removed or modified since the last load; else None."""
        if self._fingerprint() == self._stamp:
            return None
        return self.reload()

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        try:
            files = rule_files(self.path)
        except RuleError:
            return ()
        out = []
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            out.append((str(file), stat.st_mtime_ns, stat.st_size))
        return tuple(out)
