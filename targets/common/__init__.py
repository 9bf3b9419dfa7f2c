"""What the three reference targets share: configuration, auth, HTTP, database, serving, and
the architecture-neutral parts of the contract (accounts, catalog, order input).

Modules (each lists its public API in its docstring):

- ``config``: ``ServiceConfig``, ``load_service_config``, ``ServiceConfigError``
- ``auth``: argon2id password hashing, HS256 tokens, bearer/admin checks
- ``http``: JSON responses, ``ApiError``/``ValidationError``, error middleware,
  request parsing and validators (canonical path ids), ``new_application`` (body
  deadline), ``health_handler``/``HealthProbe`` (one probe shared by concurrent callers)
- ``db``: asyncpg pool ``cleanup_ctx`` factory, ``apply_schema``, ``ensure_admin``
- ``serve``: ``serve(create_app)`` — uvloop, WORKERS processes on one port, connection limits
- ``protocol``: the request-head deadline aiohttp's server lacks (slow clients are cut off)
- ``usernames``: the username rules and their one normalisation (trim, ASCII lowercase)
- ``accounts``: users DDL, password rules, ``POST /users`` and ``POST /login``
- ``catalog``: products DDL, paging and product validation, the ``/products`` routes
- ``orders``: order item parsing, order-id paths, ``/stats`` of single-database targets

What distinguishes the architectures (order flows, saga, events) stays in each target.
"""
