"""The event-driven target's tables in its one ``shop`` database.

- ``users``, ``products``: written by ``api`` (products.stock is then owned by
  ``inventory``, which is the only writer of stock after creation).
- ``orders``, ``order_items``: written by ``api`` (status ``pending``, prices as
  accepted); ``projector`` moves ``status`` to ``confirmed``/``rejected``.
- ``reservations``: ``inventory``'s idempotency record, one row per order id,
  with its decision. ``api`` inserts a ``cancelled`` row when it could not
  publish an order's event, so a late copy of that event can never reserve stock.

Every statement is idempotent; services apply it at start under the advisory lock
of ``targets.common.db.apply_schema``.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS products (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock       bigint NOT NULL CHECK (stock >= 0)
);

CREATE TABLE IF NOT EXISTS orders (
    id          uuid PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    status      text NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    total_cents bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_status_idx ON orders (status);

CREATE TABLE IF NOT EXISTS order_items (
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  bigint NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    price_cents bigint NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE IF NOT EXISTS reservations (
    order_id   uuid PRIMARY KEY,
    outcome    text NOT NULL CHECK (outcome IN ('confirmed', 'rejected', 'cancelled')),
    units      bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
