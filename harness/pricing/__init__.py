"""Pricing: what a measured target costs (``cost``) and how it compares with the article's claims (``claims``).

Both are pure functions of one target's results and the configuration (no I/O).
"""
