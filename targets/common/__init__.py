"""What the three reference targets share: configuration, auth, HTTP helpers, database, serving.

Modules (each lists its public API in its docstring):

- ``config``: ``ServiceConfig``, ``load_service_config``, ``ServiceConfigError``
- ``auth``: argon2id password hashing, HS256 tokens, bearer/admin checks
- ``http``: JSON responses, ``ApiError``/``ValidationError``, error middleware,
  request parsing and validators, ``new_application``, ``health_handler``
- ``db``: asyncpg pool ``cleanup_ctx`` factory, ``apply_schema``, ``ensure_admin``
- ``serve``: ``serve(create_app)`` — uvloop, WORKERS processes on one port
"""
