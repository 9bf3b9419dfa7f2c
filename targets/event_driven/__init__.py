"""Event-driven reference target: ``api``, ``inventory`` and ``projector`` over NATS JetStream.

Flow of one order::

    POST /orders -> api: insert order 'pending' -> publish OrderPlaced (Nats-Msg-Id = id)
                 <- 202 {id, status: "pending"} only after the PubAck
    inventory: reserve_order() in one transaction -> publish OrderConfirmed/Rejected -> ack
    projector: UPDATE orders SET status ... WHERE status = 'pending' -> ack

Guarantees (tested in ``tests/contract/test_event_driven_idempotency.py``):

- an acknowledged order is in the stream (file storage) before the client hears 202;
  if publishing fails the order is withdrawn and the client gets 503 ``unavailable``;
- redelivered or re-published events never reserve twice (reservation row per
  order id; JetStream de-duplication inside its window);
- a consumer dying between its commit and its ack loses nothing: the redelivery
  re-publishes the recorded decision and the order still becomes final;
- an order left ``pending`` by an api that died before publishing is re-published
  after ``REDRIVE_AFTER_S``.

Environment (besides ``targets.common.config``): api ``REDRIVE_AFTER_S`` [30 s];
inventory/projector ``ACK_WAIT_S`` [15 s], ``CONSUMER_CONCURRENCY`` [32];
inventory ``INVENTORY_CRASH_AFTER_COMMIT`` [0] (test hook).

Modules: ``topology`` (what the harness starts), ``events`` (stream, subjects,
payloads, consumer loop), ``schema`` and ``store`` (PostgreSQL), ``api``,
``inventory``, ``projector`` (the three services), ``consumer_app`` (what the two
consumers share). Speed: ``benchmarks/event_driven_time_to_final.py``.
"""
