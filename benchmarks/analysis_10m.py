"""Figure: analysis of 10 million raw samples — wall time and peak memory.

    .venv/bin/python benchmarks/analysis_10m.py [--samples 10000000] [--parquet]

Builds a seeded synthetic run (5 endpoints, lognormal latencies, 1% failures, 10 minutes
of load, order ids on POST /orders) with the same dtypes ``harness.samples.read_samples``
produces, then times ``harness.analysis.analyse`` (warm-up cut, totals, per-endpoint
table, 1-second series, validity). With ``--parquet`` it also writes the samples as zstd
Parquet and times reading the analysis columns back (``bench report``'s path). Peak RSS is the whole process's high-water mark
(input data included). Goal: under 5 s and under 1.5 GB.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic(n: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t0 = 1_800_000_000.0
    names = ["GET /orders/{id}", "GET /products", "GET /products/{id}", "POST /login", "POST /orders"]
    code = rng.choice(5, size=n, p=[0.10, 0.30, 0.44, 0.01, 0.15]).astype(np.int8)
    ok = rng.random(n) > 0.01
    error = np.where(ok, 0, rng.integers(1, 3, n)).astype(np.int8)
    orders = np.flatnonzero(code == 4)
    order_codes = np.zeros(n, dtype=np.int32)  # category 0 is "" (not an order), as the hook writes
    order_codes[orders] = np.arange(1, len(orders) + 1, dtype=np.int32)
    order_ids = pd.Categorical.from_codes(order_codes, categories=[""] + [f"{i:032x}" for i in range(len(orders))])
    return pd.DataFrame({
        "start_s": t0 + np.sort(rng.uniform(0.0, 600.0, n)),
        "latency_ms": rng.lognormal(2.0, 0.8, n),
        "name": pd.Categorical.from_codes(code, categories=names),
        "status": np.where(ok, 200, 503).astype(np.int32),
        "ok": ok,
        "bytes": rng.integers(50, 2000, n),
        "error": pd.Categorical.from_codes(error, categories=["", "5xx", "timeout"]),
        "order_id": order_ids,
        "user": pd.Categorical.from_codes((code == 4).astype(np.int8), categories=["", "shopper-1"]),
    })


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--parquet", action="store_true")
    args = parser.parse_args()
    from harness.analysis import Window, analyse
    from harness.samples import ANALYSIS_COLUMNS, read_parquet, write_parquet
    from scenarios.plan import Stage, planned_users

    samples = synthetic(args.samples)
    if args.parquet:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_parquet(samples, Path(tmp) / "samples.parquet")
            size = path.stat().st_size
            started = time.perf_counter()
            del samples
            samples = read_parquet(path, ANALYSIS_COLUMNS)
            print(f"parquet: {size / 1e6:.0f} MB on disk; the analysis columns read back in "
                  f"{time.perf_counter() - started:.2f} s")
    t0 = float(samples["start_s"].iloc[0])
    window = Window.after_warmup(t0, t0 + 600.0, warmup_s=10.0)
    users = planned_users([Stage(duration=600, users=100, spawn_rate=10)], 602)
    started = time.perf_counter()
    result = analyse(samples, window, min_requests=50, max_error_rate=0.5, users=users)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"analysed {result.summary['requests']:,} measured samples of {len(samples):,}: "
          f"{wall:.2f} s wall, peak RSS {peak_mb:.0f} MB (process, input included)")
    print(f"p50 {result.summary['p50_ms']:.2f} ms  p99.9 {result.summary['p99_9_ms']:.2f} ms  "
          f"{len(result.endpoints)} endpoints, {len(result.timeseries)} seconds")


if __name__ == "__main__":
    main()
