"""The worker's rules: loaded at start, watched on disk, reloaded by the admin endpoint.

:class:`LiveRules` wraps a :class:`~rules.RuleRegistry`. A worker fails at start on an
invalid rule set (the message names file, line and rule); later, a changed file or
``POST /admin/rules/reload`` swaps in a new set only when every rule in it is valid,
and otherwise logs the errors, counts the failure and keeps the running rules.

>>> from streams.settings import load_settings
>>> from streams.metrics import Metrics
>>> live = LiveRules.start(load_settings(), Metrics())
>>> len(live.current) >= 8, live.reload().ok
(True, True)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rules import DEFAULT_RULES, ReloadResult, RuleError, RuleRegistry, RuleSet
from streams.exceptions import ConfigurationError
from streams.metrics import Metrics
from streams.settings import Settings, env_name

log = logging.getLogger(__name__)


class LiveRules:
    """The active rule set of one worker, and its reloads."""

    def __init__(self, registry: RuleRegistry, settings: Settings, metrics: Metrics):
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        metrics.rules_loaded.set(len(registry.current))

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics) -> LiveRules:
        path = settings.rules_path or DEFAULT_RULES
        try:
            registry = RuleRegistry(path)
        except RuleError as exc:
            raise ConfigurationError(
                f"{env_name('rules_path')}={path}: {exc} (fix it; `pulse rules check` lists "
                "every error)"
            ) from exc
        log.info("%d rules from %s", len(registry.current), path)
        return cls(registry, settings, metrics)

    @property
    def current(self) -> RuleSet:
        return self.registry.current

    @property
    def retention(self) -> float:
        """How long dedup and cooldown keys must be kept, s of event time."""
        return max(self.settings.decision_retention, self.current.retention_s)

    def reload(self) -> ReloadResult:
        """Load the rule files again; count and log what happened."""
        return self._account(self.registry.reload())

    def reload_if_changed(self) -> ReloadResult | None:
        result = self.registry.reload_if_changed()
        return None if result is None else self._account(result)

    async def watch(self) -> None:
        """Reload whenever a rule file changes (a Faust task; ``PULSE_RULES_WATCH_INTERVAL``)."""
        interval = self.settings.rules_watch_interval
        if not interval:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                self.reload_if_changed()
            except Exception:  # the watcher must outlive any surprise on disk
                log.exception("watching rule files failed")

    def describe(self) -> dict[str, Any]:
        """The active rules and the last reload's errors, for ``GET /rules``."""
        return {
            "path": str(self.registry.path),
            "rules": [rule.summary() for rule in self.current.rules],
            "loads": self.registry.loads_total,
            "failures": self.registry.failures_total,
            "last_errors": [str(e) for e in self.registry.last_errors],
        }

    def _account(self, result: ReloadResult) -> ReloadResult:
        if result.ok:
            self.metrics.rules_reloads.labels(outcome="ok").inc()
            self.metrics.rules_loaded.set(len(self.current))
            log.warning("rules reloaded: %s", result.message)
        else:
            self.metrics.rules_reloads.labels(outcome="failed").inc()
            log.error("rule reload rejected: %s", result.message)
        return result
