"""Event-driven reference target: ``api``, ``inventory`` and ``projector`` over NATS JetStream.

Modules: ``topology`` (what the harness starts), ``events`` (stream, subjects,
payloads, consumer loop), ``schema`` and ``store`` (PostgreSQL), ``api``,
``inventory``, ``projector`` (the three services), ``consumer_app`` (what the two
consumers share).
"""
