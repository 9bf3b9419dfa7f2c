"""Microservices target: ``gateway`` in front of ``users``, ``catalog`` and ``orders``.

Each service has its own database and runs as ``python -m targets.microservices.<name>``.
``orders`` reserves stock through ``catalog`` over HTTP and compensates on failure.
"""
