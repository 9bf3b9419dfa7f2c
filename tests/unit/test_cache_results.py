"""The cache section of a target's result: the load's reads from two GET /stats bodies."""

from __future__ import annotations

import pytest

from harness.measure import cache_counts


def test_counts_are_the_difference_since_seeding() -> None:
    before = {"kind": "redis", "hits": 10, "misses": 5, "bypassed": 0, "hit_ratio": 0.66}
    after = {"kind": "redis", "hits": 310, "misses": 105, "bypassed": 0, "hit_ratio": 0.7}
    section = cache_counts(before, after)
    assert section == {"kind": "redis", "hits": 300, "misses": 100, "bypassed": 0,
                       "hit_ratio": pytest.approx(0.75)}


def test_no_cache_no_section_and_a_reset_counts_from_zero() -> None:
    assert cache_counts(None, None) is None
    assert cache_counts({"hits": 1}, None) is None
    reset = cache_counts({"hits": 500, "misses": 10}, {"hits": 40, "misses": 20, "bypassed": 5})
    assert reset is not None and (reset["hits"], reset["misses"], reset["bypassed"]) == (40, 10, 5)
    assert cache_counts(None, {"hits": 0, "misses": 0})["hit_ratio"] is None  # type: ignore[index]
