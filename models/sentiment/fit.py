"""The PyTorch side of the fast tier: training, and the eager model the benchmark compares.

Only :mod:`models.sentiment.train` and ``bench/`` import this module (it needs the
``train`` extra: ``pip install -e '.[train]'``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.sentiment import evaluate
from models.sentiment.data import Example
from models.sentiment.features import Features, Featurizer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Hyper:
    dim: int = 16
    epochs: int = 8
    lr: float = 0.02
    batch: int = 256
    seed: int = 13
    threads: int = 2
    dropout: float = 0.0  # share of a text's n-grams dropped per step (at least one kept)
    l2: float = 0.0  # penalty on the squared embedding rows a step uses, and on the linear map
    optimizer: str = "sgd"  # "sgd": fastText's plain SGD, rate decaying linearly to 0; or "adam"


@dataclass(frozen=True, slots=True)
class Result:
    table: np.ndarray  # buckets x 2, the folded weights; row 0 (padding) zero
    epoch: int
    dev: dict[str, Any]


class BagOfNgrams(nn.Module):
    """fastText's classifier: mean of n-gram embeddings, then a linear map (no bias)."""

    def __init__(self, buckets: int, dim: int, classes: int = 2) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(buckets, dim, mode="mean", sparse=True)
        self.linear = nn.Linear(dim, classes, bias=False)
        nn.init.uniform_(self.embedding.weight, -1.0 / dim, 1.0 / dim)
        nn.init.zeros_(self.linear.weight)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.linear(self.embedding(ids, offsets))

    def folded(self) -> np.ndarray:
        with torch.no_grad():
            table = (self.embedding.weight @ self.linear.weight.T).numpy().astype(np.float32)
        table[0] = 0.0
        return table


class EagerFolded(nn.Module):
    """The exported graph in PyTorch eager mode, on the same (folded) weights and prior."""

    def __init__(self, table: np.ndarray, prior: float = 0.0) -> None:
        super().__init__()
        weight = torch.from_numpy(np.ascontiguousarray(table))
        self.bag = nn.EmbeddingBag.from_pretrained(weight, mode="sum", padding_idx=0)
        self.prior = prior

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        count = (ids > 0).sum(dim=1, keepdim=True).to(torch.float32) + self.prior
        return torch.softmax(self.bag(ids) / count.clamp(min=1.0), dim=-1)


def train(
    features: Features,
    labels: np.ndarray,
    weights: np.ndarray,
    dev: Sequence[Example],
    featurizer: Featurizer,
    hyper: Hyper,
    languages: dict[str, str],
) -> Result:
    """Train for up to ``hyper.epochs``; keep the epoch with the best dev score.

    The score is :func:`models.sentiment.evaluate.by_language` over the dev sets.
    """
    from models.sentiment.train import rows

    torch.manual_seed(hyper.seed)
    torch.set_num_threads(hyper.threads)
    model = BagOfNgrams(featurizer.n_buckets, hyper.dim)
    optimizers = _optimizers(model, hyper)
    steps = hyper.epochs * -(-len(labels) // hyper.batch)
    schedules = [
        torch.optim.lr_scheduler.LambdaLR(o, lambda step: max(1.0 - step / steps, 0.0))
        for o in optimizers
        if hyper.optimizer == "sgd"
    ]
    rng = np.random.default_rng(hyper.seed)
    y, w = torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(weights)
    best: Result | None = None
    for epoch in range(1, hyper.epochs + 1):
        model.train()
        order = rng.permutation(len(labels))
        total = 0.0
        for start in range(0, len(order), hyper.batch):
            index = order[start : start + hyper.batch]
            ids, offsets = _dropped(*rows(features, index), hyper.dropout, rng)
            ids_t = torch.from_numpy(ids)
            logits = model(ids_t, torch.from_numpy(offsets))
            loss = (
                nn.functional.cross_entropy(logits, y[index], reduction="none") * w[index]
            ).mean()
            if hyper.l2:
                used = nn.functional.embedding(ids_t.unique(), model.embedding.weight, sparse=True)
                loss = loss + hyper.l2 * (used.pow(2).sum() + model.linear.weight.pow(2).sum())
            for o in optimizers:
                o.zero_grad()
            loss.backward()
            for o in optimizers:
                o.step()
            for sch in schedules:
                sch.step()
            total += float(loss.detach()) * len(index)
        result = evaluate.report(dev, _scorer(model, featurizer))
        score = evaluate.by_language(result, languages)
        log.info("epoch %d loss %.4f dev %.4f %s", epoch, total / len(order), score, result)
        if best is None or score > best.dev["score"]:
            best = Result(model.folded(), epoch, {"score": score, **result})
    assert best is not None
    return best


def logits(table: np.ndarray, features: Features, prior: float = 0.0) -> np.ndarray:
    """What the exported graph computes before softmax: ``sum(rows) / max(n + prior, 1)``."""
    sums = np.concatenate([np.zeros((1, table.shape[1])), np.cumsum(table[features.ids], axis=0)])
    counts = np.maximum(features.lengths + prior, 1.0)[:, None]
    return (sums[features.offsets[1:]] - sums[features.offsets[:-1]]) / counts


#: Pseudo-counts of zero-valued n-grams tried by :func:`calibrate`.
PRIORS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)


def calibrate(table: np.ndarray, features: Features, labels: np.ndarray) -> tuple[float, float]:
    """Temperature ``T`` and prior count ``k`` minimising the log loss on ``features``.

    The graph divides a text's summed rows by ``n + k`` instead of ``n`` (short texts,
    whose few n-grams say little, move towards 0.5) and the table is divided by ``T``.
    Neither changes any label, only the probabilities.
    """
    best = (float("inf"), 1.0, 0.0)
    sign = np.where(labels == 1, 1.0, -1.0)
    for prior in PRIORS:
        values = logits(table, features, prior)
        diff = sign * (values[:, 1] - values[:, 0])
        for t in np.exp(np.linspace(np.log(0.05), np.log(50.0), 200)):
            loss = float(np.logaddexp(0.0, -diff / t).mean())
            if loss < best[0]:
                best = (loss, float(t), prior)
    return best[1], best[2]


def _optimizers(model: BagOfNgrams, hyper: Hyper) -> list[torch.optim.Optimizer]:
    if hyper.optimizer == "sgd":
        return [torch.optim.SGD(model.parameters(), lr=hyper.lr)]
    if hyper.optimizer == "adam":
        return [
            torch.optim.SparseAdam(list(model.embedding.parameters()), lr=hyper.lr),
            torch.optim.Adam(model.linear.parameters(), lr=hyper.lr),
        ]
    raise ValueError(f"optimizer must be 'sgd' or 'adam', not {hyper.optimizer!r}")


def _dropped(
    ids: np.ndarray, offsets: np.ndarray, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Drop each n-gram with probability ``rate``, keeping every text's first one."""
    if not rate or not len(ids):
        return ids, offsets
    keep = rng.random(len(ids)) >= rate
    starts = offsets[offsets < len(ids)]
    keep[starts] = True
    bag = np.zeros(len(ids), dtype=np.int64)
    np.add.at(bag, starts, 1)
    bag = np.cumsum(bag) - 1  # index of each id's text among the non-empty ones
    counts = np.bincount(bag[keep], minlength=len(starts))
    new_starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    full = np.searchsorted(starts, offsets, side="left")  # empty texts map to the next start
    out_offsets = np.append(new_starts, counts.sum())[full]
    return ids[keep], out_offsets.astype(np.int64)


def _scorer(model: BagOfNgrams, featurizer: Featurizer):
    def score(texts: Sequence[str]) -> list[float]:
        f = featurizer.batch(texts)
        model.eval()
        with torch.no_grad():
            logits = model(torch.from_numpy(f.ids), torch.from_numpy(f.offsets[:-1]))
        return (logits[:, 1] - logits[:, 0]).tolist()

    return score
