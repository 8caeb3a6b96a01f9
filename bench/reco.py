"""Recommender evaluation, prequential (test then train), on real data; prints tables.

    nice -n 10 .venv/bin/python bench/reco.py [--quick] [--seed S] [--heldout]

1. **Rating prediction**, MovieLens 100K in timestamp order (ties: file order): each
   rating is predicted, scored, then learned. River's documented BiasedMF
   configuration (``PredClipper(BiasedMF(...), 1, 5)``) runs in the same process
   beside :class:`models.reco.mf.BiasedMF` with river's settings and with Pulse's.
2. **Top-N next item**, MovieLens 100K and the Taobao sample, every record learned by
   :class:`models.reco.Recommender` in log order. A *target* is an interaction of a user
   who has interacted before, with an item that user has not interacted with before.
   Targets are drawn with ``--seed`` from the first ``TUNE_SHARE`` of the log (used only
   to tune the fixed-weight blend shown beside the hybrid) and from the rest (the
   evaluation reported). The hybrid learns its own weights as it goes. At a target,
   before it is learned, every model ranks all items but the user's past ones; HR@10 and
   NDCG@10 of the target item are averaged. The offline ItemKNN (cosine on the binary
   user-item matrix of everything before the last refit, refitted every ``--refit``
   records, scoring with the user's whole past) is computed at the same targets.
3. **Throughput**: ``Recommender.learn`` (all models, with and without its own graph)
   against river's BiasedMF ``learn_one`` alone on the same events; ``recommend``
   latency with a large state (Taobao copied with renamed ids).
4. ``--heldout``: the final configuration (weights learned on the stream from
   ``DEFAULT_WEIGHTS``, tuned on ML-100K's training prefix, and ``RATING_PARAMS``) on
   ``heldout/movielens_latest_small`` and ``heldout/en_amazon_musical_instruments_
   5core_subset``; nothing is tuned there (``hybrid, fixed weights``: ``DEFAULT_WEIGHTS``).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

# One BLAS thread: a worker is one process per core, and threads fight on a shared machine
# (a 75k x 16 product took 3.8 ms with OpenBLAS's threads against 0.85 ms without).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from river import optim, reco  # noqa: E402
from scipy import sparse  # noqa: E402

from graph.knowledge import KnowledgeGraph  # noqa: E402
from models.reco import SOURCES, BiasedMF, Recommender, tune_weights  # noqa: E402
from models.reco.blend import blend, hit_and_ndcg  # noqa: E402
from models.reco.events import to_interaction  # noqa: E402
from models.reco.hybrid import DEFAULT_WEIGHTS, RATING_PARAMS  # noqa: E402
from streams.processor import feedback_record  # noqa: E402
from streams.replay import read_dataset  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ML100K = DATA / "movielens_100k" / "u.data"
TAOBAO = DATA / "ecom_taobao_userbehavior_sample" / "UserBehavior_sample.csv"
ML_SMALL = DATA / "heldout" / "movielens_latest_small" / "ratings.csv"
AMAZON = DATA / "heldout" / "en_amazon_musical_instruments_5core_subset"
AMAZON_CSV = AMAZON / "musical_instruments_reviews_subset.csv"
TUNE_SHARE = 0.3
K = 10
Record = dict[str, Any]


def dataset_records(path: Path) -> list[Record]:
    """Feedback-log values of a dataset, as the worker writes them, in event-time order."""
    records = [orjson.loads(feedback_record(t, e)[1]) for t, e in read_dataset(path)]
    return sorted(records, key=lambda r: r["event"]["ts"])  # stable: ties keep file order


def ml_small_records() -> list[Record]:
    """ml-latest-small ratings (half stars) as review records, in timestamp order."""
    with ML_SMALL.open() as f:
        rows = list(csv.DictReader(f))
    records = [
        {
            "topic": "reviews",
            "event": {
                "event_id": f"mls:{n}",
                "ts": float(r["timestamp"]),
                "user_id": r["userId"],
                "product_id": r["movieId"],
                "text": "",
                "rating": float(r["rating"]),
            },
        }
        for n, r in enumerate(rows)
    ]
    return sorted(records, key=lambda r: r["event"]["ts"])


# -- 1. rating prediction ------------------------------------------------------------------


def river_documented() -> reco.BiasedMF:
    """River's documented BiasedMF for MovieLens 100K (its recommender-systems guide)."""
    return reco.BiasedMF(
        n_factors=10,
        bias_optimizer=optim.SGD(0.025),
        latent_optimizer=optim.SGD(0.05),
        weight_initializer=optim.initializers.Zeros(),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=73),
        l2_bias=0.0,
        l2_latent=0.0,
    )


def rating_table(records: list[Record], lo: float, hi: float, documented: bool = True) -> None:
    triples = [
        (r["event"]["user_id"], r["event"]["product_id"], float(r["event"]["rating"]))
        for r in records
    ]
    models = {
        "river BiasedMF, documented config (river.reco)": river_documented(),
        "Pulse BiasedMF, river's settings": BiasedMF(clip=(lo, hi), seed=73),
        "Pulse BiasedMF, Pulse's settings (final)": BiasedMF(
            clip=(lo, hi), seed=73, **RATING_PARAMS
        ),
    }
    print("| model | MAE | RMSE | learn+predict steps/s |\n|---|---|---|---|")
    for name, model in models.items():
        ae = se = 0.0
        started = time.perf_counter()
        for user, item, y in triples:
            pred = min(max(model.predict_one(user, item), lo), hi)
            ae += abs(pred - y)
            se += (pred - y) ** 2
            model.learn_one(user, item, y)
        rate = len(triples) / (time.perf_counter() - started)
        n = len(triples)
        print(f"| {name} | {ae / n:.4f} | {math.sqrt(se / n):.4f} | {rate:,.0f} |")
    if documented:
        print("\nriver's documented figures: MAE 0.7486, RMSE 0.9479 (target: Pulse's MAE below)")
    print()


# -- 2. top-N ------------------------------------------------------------------------------


class OfflineItemKNN:
    """Item-based kNN refitted from scratch: cosine similarity of binary item columns."""

    def __init__(self) -> None:
        self.users: dict[str, int] = {}
        self.items: dict[str, int] = {}
        self.item_ids: list[str] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.history: dict[str, list[int]] = {}
        self.sim: sparse.csr_matrix | None = None

    def learn_one(self, user: str, item: str) -> None:
        u = self.users.setdefault(user, len(self.users))
        i = self.items.get(item)
        if i is None:
            i = self.items[item] = len(self.item_ids)
            self.item_ids.append(item)
        self.rows.append(u)
        self.cols.append(i)
        self.history.setdefault(user, []).append(i)

    def refit(self) -> None:
        shape = (len(self.users), len(self.item_ids))
        x = sparse.csr_matrix((np.ones(len(self.rows)), (self.rows, self.cols)), shape=shape)
        x.data[:] = 1.0  # repeated pairs count once
        co = (x.T @ x).tocsr()
        norms = np.sqrt(co.diagonal())
        norms[norms == 0] = 1.0
        inv = sparse.diags(1.0 / norms)
        sim = (inv @ co @ inv).tolil()
        sim.setdiag(0.0)
        self.sim = sim.tocsr()

    def rank(self, user: str, k: int, skip: set[str]) -> list[str]:
        if self.sim is None:
            return []
        n = self.sim.shape[0]
        past = [i for i in set(self.history.get(user, ())) if i < n]
        if not past:
            return []
        scores = np.asarray(self.sim[past].sum(axis=0)).ravel()
        order = np.argsort(-scores, kind="stable")
        out = []
        for i in order[: k + len(skip) + 1].tolist():
            if scores[i] <= 0:
                break
            if self.item_ids[i] not in skip:
                out.append(self.item_ids[i])
                if len(out) == k:
                    break
        return out


def target_positions(records: list[Record], n_tune: int, n_eval: int, seed: int):
    """Seeded samples of target positions in the tuning prefix and in the evaluation part."""
    seen: dict[str, set[str]] = {}
    tune, evaluate = [], []
    split = int(len(records) * TUNE_SHARE)
    for pos, record in enumerate(records):
        x = to_interaction(record)
        if x is None:
            continue
        past = seen.setdefault(x.user, set())
        if past and x.item not in past:
            (tune if pos < split else evaluate).append(pos)
        past.add(x.item)
    rng = random.Random(seed)
    pick = lambda pool, n: set(rng.sample(pool, min(n, len(pool))))  # noqa: E731
    return pick(tune, n_tune), pick(evaluate, n_eval), len(tune), len(evaluate)


def top_n(
    name: str,
    records: list[Record],
    args: argparse.Namespace,
    weights: dict[str, float] | None = None,
) -> dict[str, float]:
    """Prequential top-N evaluation. ``hybrid`` is the recommender as it serves: blend
    weights learned on the stream so far (from ``DEFAULT_WEIGHTS``). ``hybrid, fixed
    weights`` blends the same lists with weights fixed at the end of the prefix: tuned on
    the prefix's targets, or ``weights`` when given (held-out data: nothing is tuned)."""
    n_tune, n_eval = (300, 800) if args.quick else (args.tune_targets, args.targets)
    tune_at, eval_at, pool_t, pool_e = target_positions(records, n_tune, n_eval, args.seed)
    rec = Recommender(seed=args.seed)
    knn = OfflineItemKNN()
    samples: list[tuple[Any, str]] = []
    sums: dict[str, list[float]] = {}
    fixed = weights is not None
    if fixed:
        tune_at = set()  # nothing is tuned on held-out data
    split = int(len(records) * TUNE_SHARE)
    for pos, record in enumerate(records):
        if pos == split and not fixed:
            weights = tune_weights(samples, SOURCES)
        if pos % args.refit == 0 and pos:
            knn.refit()
        if pos in tune_at or pos in eval_at:
            x = to_interaction(record)
            skip = rec.excluded(x.user)
            lists = rec.candidates(x.user, skip)
            if pos in tune_at:
                samples.append((lists, x.item))
            else:
                assert weights is not None
                ranked = {src: [i for i, _ in lists.get(src, [])][:K] for src in SOURCES}
                ranked["hybrid"] = [i for i, _, _ in blend(lists, rec.weights, K)]
                ranked["hybrid, fixed weights"] = [i for i, _, _ in blend(lists, weights, K)]
                ranked["offline ItemKNN"] = knn.rank(x.user, K, skip)
                for model, items in ranked.items():
                    hit, gain = hit_and_ndcg(items, x.item)
                    acc = sums.setdefault(model, [0.0, 0.0])
                    acc[0] += hit
                    acc[1] += gain
        rec.learn(record)
        x = to_interaction(record)
        if x is not None:
            knn.learn_one(x.user, x.item)
    n = max(1, len(eval_at))
    print(
        f"### {name}: {len(records):,} records; targets: {len(tune_at):,} of {pool_t:,} in the "
        f"first {TUNE_SHARE:.0%} (tuning), {len(eval_at):,} of {pool_e:,} after (evaluated)"
    )
    rounded = lambda w: {s: round(v, 2) for s, v in w.items()}  # noqa: E731
    print(f"fixed weights ({'DEFAULT_WEIGHTS' if fixed else 'tuned on the prefix'}): {weights}")
    assert rec.learner is not None
    print(
        f"learned weights at the end ({rec.learner.samples:,} samples): {rounded(rec.weights)}; "
        f"recent NDCG@10 by source: {rounded(rec.learner.ndcg())}"
    )
    print(f"\n| model | HR@{K} | NDCG@{K} |\n|---|---|---|")
    out: dict[str, Any] = {}
    for model in ["hybrid", "hybrid, fixed weights", "offline ItemKNN", *SOURCES]:
        hr, ndcg = (v / n for v in sums.get(model, [0.0, 0.0]))
        half = 1.96 * math.sqrt(max(hr * (1 - hr), 1e-12) / n)
        print(f"| {model} | {hr:.4f} ± {half:.4f} | {ndcg:.4f} |")
        out[model] = hr
        out[model + " ndcg"] = ndcg
    pop = max(out["popular"], 1e-12), max(out["popular ndcg"], 1e-12)
    print(
        f"\nhybrid / popularity: HR ×{out['hybrid'] / pop[0]:.2f}, NDCG ×"
        f"{out['hybrid ndcg'] / pop[1]:.2f}; hybrid - offline ItemKNN: HR "
        f"{out['hybrid'] - out['offline ItemKNN']:+.4f}, NDCG "
        f"{out['hybrid ndcg'] - out['offline ItemKNN ndcg']:+.4f}\n"
    )
    out["weights"] = rec.weights
    return out


# -- 3. throughput and latency -------------------------------------------------------------


def timed(run, n: int) -> str:
    """``run()``'s rate as events per wall second (per CPU second of this thread)."""
    started, started_cpu = time.perf_counter(), time.thread_time()
    run()
    wall, cpu = time.perf_counter() - started, time.thread_time() - started_cpu
    return f"{n / wall:,.0f}/s ({n / cpu:,.0f}/CPU s)"


def learn_rate(records: list[Record], shared_graph: bool) -> str:
    rec = Recommender(graph=KnowledgeGraph(aspects=None) if shared_graph else None)
    return timed(lambda: [rec.learn(record) for record in records], len(records))


def river_rate(records: list[Record]) -> str:
    xs = [x for x in map(to_interaction, records) if x is not None]
    model = river_documented()
    learn = model.learn_one
    return timed(
        lambda: [learn(x.user, x.item, x.weight if x.rating is None else x.rating) for x in xs],
        len(xs),
    )


def throughput(datasets: dict[str, list[Record]]) -> None:
    print(
        "| data | events | Recommender.learn: all models + its own graph | all models, graph "
        "shared (applied by the graph replica) | river BiasedMF.learn_one alone |\n"
        "|---|---|---|---|---|"
    )
    for name, records in datasets.items():
        print(
            f"| {name} | {len(records):,} | {learn_rate(records, False)} | "
            f"{learn_rate(records, True)} | {river_rate(records)} |"
        )
    print("\ntarget: >= 15,000 events/s for all models of the hybrid\n")


def copies(base: list[Record], n: int) -> Iterable[Record]:
    for record in base:
        for k in range(n):
            event = dict(record["event"])
            for key in ("event_id", "user_id", "product_id"):
                event[key] = f"{event[key]}~{k}"
            yield {"topic": record["topic"], "event": event}


def latency(base: list[Record], n_copies: int, queries: int, seed: int) -> None:
    rec = Recommender(seed=seed)
    started = time.perf_counter()
    n = 0
    for record in copies(base, n_copies):
        rec.learn(record)
        n += 1
    spent = time.perf_counter() - started
    rng = random.Random(seed)
    users = [
        f"{r['event']['user_id']}~{rng.randrange(n_copies)}" for r in rng.choices(base, k=queries)
    ]
    wall, cpu = [], []
    for user in users:
        t0, c0 = time.perf_counter(), time.thread_time()
        rec.recommend(user, k=10)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
    wall.sort()
    cpu.sort()
    p99 = int(0.99 * len(wall))
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"state: Taobao x{n_copies} = {n:,} records learned in {spent:.1f} s ({n / spent:,.0f}/s); "
        f"{len(rec.seen):,} users, {len(rec.popular):,} items, {rec.graph.n_edges:,} graph edges"
    )
    print(
        f"recommend(k=10) over {queries:,} users drawn by traffic: p50 {statistics.median(wall):.2f} ms, "
        f"p99 {wall[p99]:.2f} ms, max {wall[-1]:.2f} ms; CPU p99 {cpu[p99]:.2f} ms "
        f"(target p99 <= 10 ms with 100k users and 50k items)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer targets, smaller state")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refit", type=int, default=5_000, help="records between kNN refits")
    parser.add_argument("--targets", type=int, default=5_000, help="evaluated targets (full)")
    parser.add_argument("--tune-targets", type=int, default=2_000, help="tuning targets (full)")
    parser.add_argument("--data", choices=["ml", "taobao"], default=None, help="top-N on one only")
    parser.add_argument("--heldout", action="store_true", help="final evaluation on heldout/")
    parser.add_argument("--only", choices=["rating", "topn", "speed"], default=None)
    args = parser.parse_args()
    for path in (ML100K, TAOBAO):
        if not path.exists():
            sys.exit(f"skipped: {path} is absent (see ../shared/data/README.md)")
    if args.heldout:
        return heldout(args)
    ml, taobao = dataset_records(ML100K), dataset_records(TAOBAO)
    if args.only in (None, "rating"):
        print("## Rating prediction, MovieLens 100K, prequential\n")
        rating_table(ml, 1.0, 5.0)
    if args.only in (None, "topn"):
        print("## Top-N next item, prequential\n")
        if args.data in (None, "ml"):
            top_n("MovieLens 100K", ml, args)
        if args.data in (None, "taobao"):
            top_n("Taobao UserBehavior sample", taobao, args)
    if args.only in (None, "speed"):
        print("## Throughput and latency (one process, one core)\n")
        throughput({"MovieLens 100K": ml, "Taobao sample": taobao})
        latency(taobao, 1 if args.quick else 2, 500 if args.quick else 2000, args.seed)


def heldout(args: argparse.Namespace) -> None:
    """The final configuration on held-out data: nothing tuned there."""
    print(
        "## Held-out (final configuration: weights learned on the stream from DEFAULT_WEIGHTS, "
        "tuned on ML-100K's prefix)\n"
    )
    weights = dict(DEFAULT_WEIGHTS)
    small = ml_small_records()
    print("### Rating prediction, ml-latest-small (ratings 0.5-5)\n")
    rating_table(small, 0.5, 5.0, documented=False)
    top_n("ml-latest-small (held out)", small, args, weights=dict(weights))
    if AMAZON_CSV.exists():
        amazon = dataset_records(AMAZON_CSV)
        print("### Rating prediction, Amazon Musical Instruments 5-core subset\n")
        rating_table(amazon, 1.0, 5.0, documented=False)
        top_n("Amazon Musical Instruments (held out)", amazon, args, weights=dict(weights))


if __name__ == "__main__":
    main()
