"""How fast is the regression gate, and how big is a baseline?

    .venv/bin/python benchmarks/gate_regression.py

Times (seeded synthetic samples, lognormal latencies with per-second drift):
binning N samples into per-window histograms (what `bench gate` and
`bench baseline save` do per target), one bootstrap comparison of two runs
(p95 + p99, 2000 resamples each), and the JSON size of one target's noise
histograms.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from harness.gate.noise import compare_quantiles, histograms_to_dict, window_histograms


def synthetic(rng: np.random.Generator, samples: int, seconds: int) -> tuple[np.ndarray, np.ndarray]:
    start = np.sort(rng.random(samples) * seconds)
    drift = np.exp(np.cumsum(rng.normal(0, 0.01, seconds)))
    latency = rng.lognormal(np.log(20.0), 0.6, samples) * drift[start.astype(int)]
    return start, latency


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options; --help
    rng = np.random.default_rng(0)
    for samples, seconds in ((20_000, 60), (1_000_000, 600), (10_000_000, 1800)):
        start, latency = synthetic(rng, samples, seconds)
        began = time.perf_counter()
        baseline = window_histograms(start, latency, begin_s=0.0, end_s=float(seconds))
        binned_s = time.perf_counter() - began
        current = window_histograms(start, latency * 1.2, begin_s=0.0, end_s=float(seconds))
        began = time.perf_counter()
        compare_quantiles(baseline, current, (0.95, 0.99), limit=0.15, resamples=2000, seed=0)
        compare_s = time.perf_counter() - began
        size = len(json.dumps(histograms_to_dict(baseline), separators=(",", ":")))
        print(f"{samples:>10,} samples over {seconds:>4} s: bin {binned_s * 1000:7.1f} ms, "
              f"compare {compare_s * 1000:6.1f} ms, {baseline.windows} windows x "
              f"{baseline.counts.shape[1]} bins, baseline noise JSON {size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
