"""Cost of the shared argon2id parameters (t=2, m=19 MiB, p=1): what a login costs.

Measures, in this process: one ``hash``/``verify`` at a time (ms per operation),
then ``verify_password`` run through the default executor with 1, 2 and 4
concurrent callers (verifications per second), which bounds ``POST /login``
and ``POST /users`` throughput per worker process.

Usage: ``.venv/bin/python benchmarks/password_hashing.py [--rounds 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from targets.common.auth import PASSWORD_HASHER, verify_password


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    stored = PASSWORD_HASHER.hash("benchmark-password")
    for name, operation in (
        ("hash", lambda: PASSWORD_HASHER.hash("benchmark-password")),
        ("verify", lambda: PASSWORD_HASHER.verify(stored, "benchmark-password")),
    ):
        samples = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            operation()
            samples.append((time.perf_counter() - started) * 1000)
        print(
            f"{name:6s}: median {statistics.median(samples):.1f} ms, "
            f"min {min(samples):.1f} ms over {args.rounds} rounds"
        )

    async def concurrent(callers: int) -> float:
        """Verifications per second with ``callers`` verifications in flight."""
        limit = asyncio.Semaphore(callers)
        count = args.rounds * 2

        async def one() -> None:
            async with limit:
                await verify_password(stored, "benchmark-password")

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return count / (time.perf_counter() - started)

    for callers in (1, 2, 4):
        rate = asyncio.run(concurrent(callers))
        print(f"verify via executor, {callers} concurrent: {rate:.1f} verifications/s")


if __name__ == "__main__":
    main()
