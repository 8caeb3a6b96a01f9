"""Errors of the rules package (which never imports ``streams``).

Every authoring error says where it is and why, as ``file:line: rule 'id': reason``:

>>> str(RuleValidationError("unknown fact 'scor'", file="r.yaml", line=4, rule_id="angry"))
"r.yaml:4: rule 'angry': unknown fact 'scor'"
>>> issubclass(RuleSyntaxError, RuleError), issubclass(RuleValidationError, ValueError)
(True, True)
"""

from __future__ import annotations


class RuleError(Exception):
    """Root of every error the rules engine raises on purpose.

    ``file``, ``line`` (1-based) and ``rule_id`` are ``None`` when unknown.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.rule_id = rule_id
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.file or "<rules>"
        if self.line is not None:
            where += f":{self.line}"
        rule = f" rule {self.rule_id!r}:" if self.rule_id else ""
        return f"{where}:{rule} {self.reason}"


class RuleSyntaxError(RuleError, ValueError):
    """A rule file or a condition cannot be parsed, or uses a construct outside the whitelist."""


class RuleValidationError(RuleError, ValueError):
    """A rule parses but is wrong: unknown fact or action, type error, duplicate id, bad field."""


class RuleLoadError(RuleError, OSError):
    """A rule path cannot be read (missing, not a file or folder, no rule files)."""
