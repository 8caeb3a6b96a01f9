"""The actions a rule may take, and the parameters each accepts.

A downstream system acts on a decision by its ``action`` name and ``params``;
this closed list is that contract. Parameter types are those of facts
(``str``, ``number``, ``bool``, ``list[str]``); a parameter may template facts.

>>> sorted(ACTIONS)[:3]
['alert', 'escalate_to_support', 'investigate']
>>> ACTIONS["restock"].params["quantity"]
Param(type='number', required=True, description='units to order')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Param(NamedTuple):
    """One parameter of an action."""

    type: str
    required: bool
    description: str


@dataclass(frozen=True, slots=True)
class Action:
    """An action name, what it asks of the downstream system, and its parameters."""

    name: str
    description: str
    params: dict[str, Param] = field(default_factory=dict)


_NOTE = Param("str", False, "free text for the person or system acting")


def _action(name: str, description: str, **params: Param) -> Action:
    return Action(name, description, {**params, "note": _NOTE})


#: Action name -> :class:`Action`.
ACTIONS: dict[str, Action] = {
    a.name: a
    for a in [
        _action(
            "escalate_to_support",
            "open a support case for a review",
            queue=Param("str", True, "the support queue"),
            review_text=Param("str", False, "the review, for the agent"),
        ),
        _action(
            "alert",
            "notify the product team",
            channel=Param("str", True, "where to notify"),
            severity=Param("str", False, "'info', 'warning' or 'critical'"),
            topic=Param("str", False, "what the alert is about (e.g. an aspect)"),
        ),
        _action(
            "restock",
            "order more units of a product",
            quantity=Param("number", True, "units to order"),
        ),
        _action(
            "promote",
            "feature a product",
            placement=Param("str", True, "where to feature it"),
        ),
        _action(
            "review_price",
            "have someone review a product's price",
            current_price=Param("number", False, "the price now"),
        ),
        _action(
            "investigate",
            "have someone look into unusual activity",
            kind=Param("str", True, "what kind of anomaly"),
        ),
        _action(
            "win_back",
            "reach out to a user who hesitated",
            product_id=Param("str", True, "the product they hesitated over"),
            recommendations=Param("list[str]", False, "the user's top recommendations"),
            channel=Param("str", False, "how to reach them"),
        ),
    ]
}
