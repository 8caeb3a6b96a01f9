"""``pulse replay``: a public dataset into Pulse's topics, at a chosen rate, with progress."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.producing import Item, publish
from streams.replay import read_dataset
from streams.settings import Settings


def replay_file(
    settings: Settings,
    bootstrap: str,
    path: Path,
    fmt: str | None = None,
    rate: float | None = None,
    limit: int | None = None,
) -> int:
    """Publish every event of the dataset at ``path``; returns how many were acknowledged."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} ev/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"replay {path.name}", total=limit, rate=0.0)

        def sent(topic: str, n: int) -> None:
            progress.advance(task, n)
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, rate=progress.tasks[task].completed / elapsed)

        items: Iterator[Item] = read_dataset(path, fmt=fmt, limit=limit)  # type: ignore[assignment]
        count = asyncio.run(publish(settings, bootstrap, items, rate=rate, on_sent=sent))
    print(f"published {count} events from {path}")
    return count
