"""Microservices target: ``gateway`` in front of ``users``, ``catalog`` and ``orders``.

Each service has its own database and runs as ``python -m targets.microservices.<name>``
(wiring in ``topology.py``). Modules:

- ``gateway``: routing over keep-alive pools, token check before forwarding,
  ``/stats`` aggregation, ``/health`` of all three, 503 when one is down.
- ``users``: sign-up, login (issues tokens), admin ensured at start.
- ``catalog`` + ``catalog_store``: products and stock reservations.
- ``orders`` + ``orders_store``: the order saga; ``catalog_client`` calls catalog;
  ``reconcile`` settles reservations a crash left open.
- ``upstream``: pooled ``ClientSession`` per worker, internal-secret check.
- ``items``: order item validation (same rules as the other targets).

The order saga (one ``POST /orders``)::

    orders                                   catalog
      | POST /internal/reservations {id, items} |  one transaction: conditional
      |---------------------------------------->|  stock updates in product-id
      |<---- 200 prices / 404 / 409 ------------|  order, reservation keyed by id
      | INSERT order (confirmed) in orders db   |
      |   ok     -> 201; id queued for confirm  |  (batched: .../confirm)
      |   refused-> DELETE /internal/reservations/{id}   (compensation)
      |   unknown-> left to the reconciler's sweep (confirm if stored, else release)

Reservation states: ``reserved`` -> ``confirmed`` | ``released``. Every call is
idempotent per order id; a release of an unknown id leaves a tombstone so a
late reservation cannot take stock. Invariant checked by the tests and the
benchmark: ``stock_total + units_sold`` is conserved.
"""
