"""Monolith target: one aiohttp service (N worker processes) owning one PostgreSQL database.

Runs as ``python -m targets.monolith`` (wiring in ``topology.py``). Modules:

- ``app``: ``create_app(config)``, every endpoint of the contract; ``POST /orders``
  reserves stock and records the order in one transaction (conditional updates
  in product-id order, so concurrent orders neither oversell nor deadlock).
- ``schema.sql``: users, products, orders, order_items (applied at start under
  an advisory lock).
- ``__main__``: ``serve(create_app)`` from ``targets.common.serve``.
"""
