-- Users and products, exactly the DDL of targets/common/accounts.py (USERS_DDL) and
-- targets/common/catalog.py (PRODUCTS_DDL); the orders tables come from targets/monolith/schema.sql.
-- tests/unit/test_express_monolith.py keeps this file equal to those two strings.
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
