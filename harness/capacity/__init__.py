"""Capacity at an SLO: the highest open-model arrival rate a target holds (``bench capacity``).

``slo`` judges one step (holds / breaks / unclear, from bootstrap intervals),
``search`` decides which rate to try next and what the steps add up to; both are
pure. The step runner drives the load stage at each rate.
"""
