"""A tick runs beside the agent: its first pass leaves the agent's lock alone."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from rules.loader import load_rules
from streams.metrics import Metrics
from streams.processor import written
from streams.schemas import ClickEvent
from streams.state import ProductState
from streams.ticks import CHUNK, Ticker

T0 = 1_764_300_000.0


def quiet_products(n: int) -> dict[bytes, object]:
    """``n`` products with one view each: no default tick rule fires on them."""
    data: dict[bytes, object] = {}
    for i in range(n):
        state = ProductState()
        state.apply(
            ClickEvent(event_id=f"e{i}", ts=T0, user_id="u", product_id=f"p{i}", action="view")
        )
        data[f"p{i}".encode()] = written(state, {"clicks:0": i}, i % 4)
    return data


def test_the_agent_runs_between_a_ticks_chunks() -> None:
    rules = load_rules("rules/default")
    assert rules.rules_for("tick"), "the default rules have tick rules"
    pulse = SimpleNamespace(
        rules=SimpleNamespace(current=rules),
        tables=SimpleNamespace(products=SimpleNamespace(data=quiet_products(3 * CHUNK))),
        sentiment=SimpleNamespace(version="s"),
        replica=SimpleNamespace(recommender_version="r"),
        read_decision=lambda key: None,
        metrics=Metrics(),
        ready=True,
    )

    async def run() -> tuple[int, int]:
        lock = asyncio.Lock()
        ticker = Ticker(pulse, lock)  # type: ignore[arg-type]
        tick = asyncio.ensure_future(ticker.tick())
        batches = 0
        while not tick.done():
            async with lock:  # as the agent takes it for each batch
                if not tick.done():
                    batches += 1
            await asyncio.sleep(0)
        return await tick, batches

    decided, batches_during_tick = asyncio.run(run())
    assert decided == 0
    assert batches_during_tick >= 2, "the agent's batches go on during a tick"
