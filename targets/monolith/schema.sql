-- Monolith: one database holds users, the catalog and orders. The users and products
-- tables come from targets.common (accounts.USERS_DDL, catalog.PRODUCTS_DDL), applied first.
-- Idempotent: applied by every worker at start under an advisory lock.
CREATE TABLE IF NOT EXISTS orders (
    id          uuid PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    status      text NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS order_items (
    order_id    uuid NOT NULL REFERENCES orders (id),
    product_id  bigint NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE INDEX IF NOT EXISTS order_items_product_id ON order_items (product_id);
