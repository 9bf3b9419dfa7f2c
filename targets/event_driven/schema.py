"""The event-driven target's tables in its one ``shop`` database.

- ``users``, ``products`` (DDL shared with the other targets, ``targets.common``):
  written by ``api`` (products.stock is then owned by
  ``inventory``, which is the only writer of stock after creation).
- ``orders``, ``order_items``: written by ``api`` (status ``pending``, prices as
  accepted); ``projector`` moves ``status`` to ``confirmed``/``rejected``.
- ``reservations``: ``inventory``'s idempotency record, one row per order id,
  with its decision. ``api`` inserts a ``cancelled`` row when it could not
  publish an order's event, so a late copy of that event can never reserve stock.
- ``reserve_order(order_id, product_ids, quantities)``: inventory's whole
  decision as one function call (one round trip and one implicit transaction
  instead of six statements; it halves the database CPU per event). See
  ``store.reserve_stock`` for the rules it implements.

Every statement is idempotent; services apply it at start under the advisory lock
of ``targets.common.db.apply_schema``.
"""

from __future__ import annotations

from targets.common.accounts import USERS_DDL
from targets.common.catalog import PRODUCTS_DDL

SCHEMA = (
    USERS_DDL
    + PRODUCTS_DDL
    + """
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

CREATE OR REPLACE FUNCTION reserve_order(
    p_order_id uuid, p_product_ids bigint[], p_quantities bigint[],
    OUT outcome text, OUT fresh boolean
) LANGUAGE plpgsql AS $$
DECLARE
    available boolean;
BEGIN
    SELECT r.outcome INTO outcome FROM reservations r WHERE r.order_id = p_order_id;
    IF FOUND THEN
        fresh := false;  -- decided by an earlier delivery, or cancelled by the api
        RETURN;
    END IF;
    -- Lock in id order (no deadlocks between multi-item orders); NO KEY UPDATE does not
    -- conflict with the FOR KEY SHARE locks of the api's order_items foreign-key checks.
    PERFORM 1 FROM products WHERE id = ANY(p_product_ids) ORDER BY id FOR NO KEY UPDATE;
    SELECT count(*) = cardinality(p_product_ids) AND coalesce(bool_and(p.stock >= i.quantity), false)
      INTO available
      FROM products p JOIN unnest(p_product_ids, p_quantities) AS i(id, quantity) ON i.id = p.id;
    outcome := CASE WHEN available THEN 'confirmed' ELSE 'rejected' END;
    INSERT INTO reservations (order_id, outcome, units)
    VALUES (p_order_id, outcome,
            CASE WHEN available THEN (SELECT sum(q) FROM unnest(p_quantities) AS q) ELSE 0 END)
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        -- A concurrent delivery of the same event committed first; nothing was changed here.
        SELECT r.outcome INTO outcome FROM reservations r WHERE r.order_id = p_order_id;
        fresh := false;
        RETURN;
    END IF;
    IF available THEN
        UPDATE products p SET stock = p.stock - i.quantity
          FROM unnest(p_product_ids, p_quantities) AS i(id, quantity)
         WHERE p.id = i.id;
    END IF;
    fresh := true;
END
$$;
"""
)
