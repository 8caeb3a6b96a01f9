"""The fact catalogue and the actions as Markdown tables, for ``docs/rules.md`` (a test keeps them in step).

>>> print(facts_markdown().splitlines()[0])
### Trigger facts
"""

from __future__ import annotations

from rules.actions import ACTIONS
from rules.checker import FUNCTIONS
from rules.facts import FACTS, TRIGGERS

_GROUPS = {
    "trigger": "Trigger facts",
    "review": "Review facts (trigger `review`, after scoring)",
    "click": "Click facts (trigger `click`)",
    "sale": "Sale facts (trigger `sale`)",
    "product": "Product state (every trigger)",
    "user": "User state (triggers `review`, `click`, `sale`)",
    "model": "Model versions (every trigger; reported in decisions, not usually in conditions)",
}


def facts_markdown() -> str:
    """One table per group: name, type, unit, triggers, model, meaning."""
    out = []
    for group, title in _GROUPS.items():
        out += [
            f"### {title}",
            "",
            "| fact | type | unit | triggers | model | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for fact in FACTS.values():
            if fact.group != group:
                continue
            on = (
                "all"
                if len(fact.triggers) == len(TRIGGERS)
                else ", ".join(t for t in TRIGGERS if t in fact.triggers)
            )
            model = fact.model or ""
            out.append(
                f"| `{fact.name}` | {fact.type} | {fact.unit} | {on} | {model} | {fact.description} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def actions_markdown() -> str:
    """One row per action: name, what it asks, parameters (``*`` marks required ones)."""
    out = ["| action | asks the downstream system to | params (`*` required) |", "|---|---|---|"]
    for action in ACTIONS.values():
        params = ", ".join(
            f"`{name}`{'*' if p.required else ''}: {p.type}" for name, p in action.params.items()
        )
        out.append(f"| `{action.name}` | {action.description} | {params} |")
    return "\n".join(out) + "\n"


def functions_markdown() -> str:
    """The whitelisted functions, one per line."""
    return "\n".join(f"- `{signature}`" for signature in FUNCTIONS.values()) + "\n"
