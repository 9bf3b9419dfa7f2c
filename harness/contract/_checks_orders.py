"""Contract checks: products, orders, stock, stats, SQL injection and concurrency.

Each check takes a ``Context``, raises ``CheckFailed`` (or ``AssertionError``)
on a violation and returns a short detail string on success. Checks are
independent: each creates the products and orders it needs.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

from harness.contract._client import (
    BIG_ID,
    MISSING,
    CheckFailed,
    Context,
    expect,
    expect_true,
    is_int,
)

SQL_INJECTIONS = (
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "x'); DELETE FROM products; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5)",
    "%' UNION SELECT id, password_hash, role, 1 FROM users --",
    "\\'; TRUNCATE orders CASCADE; --",
)


def _check_product_shape(product: Any) -> None:
    expect_true(
        isinstance(product, dict)
        and set(product) >= {"id", "name", "price_cents", "stock"}
        and is_int(product["id"])
        and isinstance(product["name"], str)
        and is_int(product["price_cents"])
        and is_int(product["stock"]),
        f"not a product {{id:int, name, price_cents:int, stock:int}}: {product!r}",
    )


async def check_products_paging(ctx: Context) -> str:
    for _ in range(3):
        await ctx.new_product(stock=1)
    page = expect(await ctx.api.call("GET", "/products"), 200)
    expect_true(isinstance(page, list) and 3 <= len(page) <= 20, f"default page: {len(page)} rows")
    for product in page:
        _check_product_shape(product)
    ids = [product["id"] for product in page]
    expect_true(ids == sorted(ids) and len(set(ids)) == len(ids), f"not ordered by id: {ids}")
    hundred = expect(await ctx.api.call("GET", "/products?limit=100&offset=0"), 200)
    expect_true(hundred[: len(page)] == page, "limit=100 does not start with the default page")
    one = expect(await ctx.api.call("GET", "/products?limit=1&offset=1"), 200)
    expect_true(one == page[1:2], f"limit=1&offset=1 gave {one!r}, not the second product")
    far = expect(await ctx.api.call("GET", "/products?limit=100&offset=1000000"), 200)
    expect_true(far == [], f"offset=1000000 gave {len(far)} rows")
    bad = (
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "offset=-1",
        "offset=1000001",
        "offset=x",
        "limit=99999999999999999999999",
    )
    for query in bad:
        expect(await ctx.api.call("GET", f"/products?{query}"), 400, "invalid")
    return f"ordered pages, limit 1..100 and offset 0..1000000 enforced ({len(bad)} bad queries)"


async def check_product_get(ctx: Context) -> str:
    created = await ctx.new_product(stock=4, price_cents=1999)
    got = await ctx.product(created["id"])
    _check_product_shape(got)
    expect_true(got == created, f"GET {got!r} != POST {created!r}")
    expect(await ctx.api.call("GET", f"/products/{BIG_ID}"), 404, "not_found")
    for raw in ("abc", "1.5", "1e3", "%20"):
        expect(await ctx.api.call("GET", f"/products/{raw}"), 400, "invalid")
    huge = await ctx.api.call("GET", "/products/99999999999999999999999999")
    expect_true(huge.status in (400, 404), f"beyond-bigint id: {huge.describe()}")
    expect(huge, huge.status)
    return "200 product, 404 unknown, 400 non-integer id"


async def check_create_product(ctx: Context) -> str:
    name = ctx.unique("Ünïcode <b>&amp; widget</b>")
    created = await ctx.new_product(stock=12, price_cents=0, name=name)
    _check_product_shape(created)
    expect_true(
        created["name"] == name and created["price_cents"] == 0 and created["stock"] == 12,
        f"product {created!r} does not echo what was sent",
    )
    edge = await ctx.new_product(stock=1_000_000_000, price_cents=1_000_000_000, name="n" * 200)
    expect_true(edge["stock"] == 1_000_000_000, f"upper bounds not stored: {edge!r}")
    return "201 product, bounds 0 and 1e9 and 200-char names accepted"


async def check_create_product_auth(ctx: Context) -> str:
    body = {"name": ctx.unique("p"), "price_cents": 1, "stock": 1}
    expect(await ctx.api.call("POST", "/products", json=body), 401, "unauthorized")
    expect(await ctx.api.call("POST", "/products", json=body, token="garbage"), 401, "unauthorized")
    expect(
        await ctx.api.call("POST", "/products", json=body, token=ctx.user.token), 403, "forbidden"
    )
    return "401 without/with a garbage token, 403 for a non-admin"


async def check_create_product_invalid(ctx: Context) -> str:
    good = {"name": ctx.unique("p"), "price_cents": 100, "stock": 5}
    variants: list[tuple[str, Any]] = [
        ("name", ""),
        ("name", "n" * 201),
        ("name", 5),
        ("name", None),
        ("name", MISSING),
        ("price_cents", -1),
        ("price_cents", 1_000_000_001),
        ("price_cents", "100"),
        ("price_cents", 1.5),
        ("price_cents", True),
        ("price_cents", MISSING),
        ("stock", -1),
        ("stock", 1_000_000_001),
        ("stock", None),
        ("stock", MISSING),
    ]
    for field_name, value in variants:
        body = dict(good)
        if value is MISSING:
            del body[field_name]
        else:
            body[field_name] = value
        reply = await ctx.api.call("POST", "/products", json=body, token=ctx.admin_token)
        expect(reply, 400, "invalid")
    huge = b'{"name": "n", "price_cents": 1, "stock": 1000000000000000000000000000000}'
    reply = await ctx.api.call("POST", "/products", raw=huge, token=ctx.admin_token)
    expect(reply, 400, "invalid")
    return f"{len(variants) + 1} invalid product bodies -> 400 invalid"


async def check_order(ctx: Context) -> str:
    first = await ctx.new_product(stock=10, price_cents=250)
    second = await ctx.new_product(stock=5, price_cents=1000)
    items = [
        {"product_id": second["id"], "quantity": 2},
        {"product_id": first["id"], "quantity": 3},
    ]
    outcome = await ctx.place_order(ctx.user.token, {"items": items})
    expect_true(outcome.result == "confirmed", f"order not confirmed: {outcome.reply.describe()}")
    accepted = outcome.reply.body
    expect_true(
        isinstance(accepted["id"], str) and str(uuid.UUID(accepted["id"])) == accepted["id"],
        f"order id {accepted['id']!r} is not a UUID string",
    )
    if ctx.mode == "sync":
        expect_true(accepted.get("total_cents") == 2750, f"201 total_cents: {accepted!r}")
        expect_true(isinstance(accepted.get("items"), list), f"201 lacks items: {accepted!r}")
    order = expect(
        await ctx.api.call("GET", f"/orders/{accepted['id']}", token=ctx.user.token), 200
    )
    expect_true(
        order.get("id") == accepted["id"]
        and order.get("status") == "confirmed"
        and order.get("total_cents") == 2750,
        f"GET order: {order!r}",
    )
    lines = sorted((i["product_id"], i["quantity"], i["price_cents"]) for i in order["items"])
    want = sorted([(first["id"], 3, 250), (second["id"], 2, 1000)])
    expect_true(lines == want, f"order items {lines} != {want}")

    async def stock_taken() -> None:
        stocks = (
            (await ctx.product(first["id"]))["stock"],
            (await ctx.product(second["id"]))["stock"],
        )
        expect_true(stocks == (7, 3), f"stock after order is {stocks}, want (7, 3)")

    await ctx.eventually(stock_taken)
    return f"{ctx.mode}: confirmed, total 2750, items and stock right"


async def check_order_ignores_extra_fields(ctx: Context) -> str:
    product = await ctx.new_product(stock=5, price_cents=700)
    body = {
        "items": [{"product_id": product["id"], "quantity": 2, "price_cents": 1}],
        "price_cents": 1,
        "total_cents": 0,
        "status": "rejected",
        "user": ctx.other.username,
        "user_id": ctx.other.id,
        "id": str(uuid.uuid4()),
    }
    outcome = await ctx.place_order(ctx.user.token, body)
    expect_true(outcome.result == "confirmed", f"order not confirmed: {outcome.reply.describe()}")
    order_id = outcome.reply.body["id"]
    expect_true(order_id != body["id"], "the client chose the order id")
    order = expect(await ctx.api.call("GET", f"/orders/{order_id}", token=ctx.user.token), 200)
    expect_true(
        order["total_cents"] == 1400
        and order["status"] == "confirmed"
        and order["items"][0]["price_cents"] == 700,
        f"extra fields changed {order!r}",
    )
    expect(await ctx.api.call("GET", f"/orders/{order_id}", token=ctx.other.token), 404)
    return "price_cents/status/total_cents/user/id in the body ignored"


async def check_order_invalid(ctx: Context) -> str:
    product = await ctx.new_product(stock=1000)
    pid = product["id"]
    bodies: list[Any] = [
        {},
        {"items": []},
        {"items": None},
        {"items": {"product_id": pid, "quantity": 1}},
        {"items": [pid]},
        {"items": [{"product_id": pid}]},
        {"items": [{"quantity": 1}]},
        {"items": [{"product_id": pid, "quantity": 0}]},
        {"items": [{"product_id": pid, "quantity": 1001}]},
        {"items": [{"product_id": pid, "quantity": -1}]},
        {"items": [{"product_id": pid, "quantity": "1"}]},
        {"items": [{"product_id": pid, "quantity": 1.0}]},
        {"items": [{"product_id": pid, "quantity": True}]},
        {"items": [{"product_id": str(pid), "quantity": 1}]},
        {"items": [{"product_id": None, "quantity": 1}]},
        {"items": [{"product_id": pid, "quantity": 1}, {"product_id": pid, "quantity": 2}]},
        {"items": [{"product_id": BIG_ID + i, "quantity": 1} for i in range(21)]},
    ]
    for body in bodies:
        expect(
            await ctx.api.call("POST", "/orders", json=body, token=ctx.user.token), 400, "invalid"
        )
    expect_true((await ctx.product(pid))["stock"] == 1000, "an invalid order changed stock")
    big = await ctx.place_order(ctx.user.token, {"items": [{"product_id": pid, "quantity": 1000}]})
    expect_true(big.result == "confirmed", f"quantity 1000 refused: {big.reply.describe()}")
    many = [await ctx.new_product(stock=1, price_cents=1) for _ in range(20)]
    full = await ctx.place_order(
        ctx.user.token, {"items": [{"product_id": p["id"], "quantity": 1} for p in many]}
    )
    expect_true(full.result == "confirmed", f"20 items refused: {full.reply.describe()}")
    return f"{len(bodies)} invalid orders -> 400; quantity 1000 and 20 items accepted"


async def check_order_owner_only(ctx: Context) -> str:
    product = await ctx.new_product(stock=2)
    outcome = await ctx.place_order(
        ctx.user.token, {"items": [{"product_id": product["id"], "quantity": 1}]}
    )
    expect_true(outcome.result == "confirmed", f"order not confirmed: {outcome.reply.describe()}")
    path = f"/orders/{outcome.reply.body['id']}"
    expect(await ctx.api.call("GET", path, token=ctx.user.token), 200)
    expect(await ctx.api.call("GET", path, token=ctx.other.token), 404, "not_found")
    return "another user's order is 404"


async def check_order_unknown(ctx: Context) -> str:
    for raw in (str(uuid.uuid4()), "not-a-uuid", "1", "'%20OR%201=1"):
        expect(await ctx.api.call("GET", f"/orders/{raw}", token=ctx.user.token), 404, "not_found")
    return "404 for unknown and malformed order ids"


async def check_canonical_ids(ctx: Context) -> str:
    """Only an id's canonical spelling names it: ``/products/01`` is not product 1 (404)."""
    product = await ctx.new_product(stock=2)
    pid = product["id"]
    expect(await ctx.api.call("GET", f"/products/{pid}"), 200)
    spellings = (f"0{pid}", f"00{pid}", f"+{pid}", f"%20{pid}", f"{pid}%20", "0", "-0", "00")
    for raw in spellings:
        reply = await ctx.api.call("GET", f"/products/{raw}")
        if reply.status != 404:
            raise CheckFailed(f"/products/{raw} is not product {pid}: {reply.describe()}")
        expect(reply, 404, "not_found")
    outcome = await ctx.place_order(ctx.user.token, {"items": [{"product_id": pid, "quantity": 1}]})
    expect_true(outcome.result == "confirmed", f"order not confirmed: {outcome.reply.describe()}")
    order_id = str(outcome.order_id)
    expect(await ctx.api.call("GET", f"/orders/{order_id}", token=ctx.user.token), 200)
    order_uuid = uuid.UUID(order_id)
    order_spellings = (
        order_id.upper(),
        order_uuid.hex,
        f"urn:uuid:{order_id}",
        f"%7B{order_id}%7D",
        f"%20{order_id}",
    )
    for raw in order_spellings:
        reply = await ctx.api.call("GET", f"/orders/{raw}", token=ctx.user.token)
        if reply.status != 404:
            raise CheckFailed(f"/orders/{raw} is not order {order_id}: {reply.describe()}")
        expect(reply, 404, "not_found")
    return (
        f"{len(spellings)} non-canonical product ids and {len(order_spellings)} order ids "
        "(leading zeros, sign, spaces, upper case, braces, urn) -> 404 not_found"
    )


async def check_order_unknown_product(ctx: Context) -> str:
    product = await ctx.new_product(stock=5)
    items = [{"product_id": product["id"], "quantity": 1}, {"product_id": BIG_ID, "quantity": 1}]
    reply = await ctx.api.call("POST", "/orders", json={"items": items}, token=ctx.user.token)
    expect(reply, 404, "not_found")
    await asyncio.sleep(0.3 if ctx.mode == "async" else 0)
    stock = (await ctx.product(product["id"]))["stock"]
    expect_true(stock == 5, f"stock of the known product became {stock}")
    return "404 not_found, nothing reserved"


async def check_insufficient_stock(ctx: Context) -> str:
    plenty = await ctx.new_product(stock=3)
    scarce = await ctx.new_product(stock=3)
    single = await ctx.place_order(
        ctx.user.token, {"items": [{"product_id": scarce["id"], "quantity": 4}]}
    )
    expect_true(single.result == "rejected", f"oversell accepted: {single.reply.describe()}")
    mixed = await ctx.place_order(
        ctx.user.token,
        {
            "items": [
                {"product_id": plenty["id"], "quantity": 1},
                {"product_id": scarce["id"], "quantity": 4},
            ]
        },
    )
    expect_true(mixed.result == "rejected", f"oversell accepted: {mixed.reply.describe()}")

    async def untouched() -> None:
        stocks = (
            (await ctx.product(plenty["id"]))["stock"],
            (await ctx.product(scarce["id"]))["stock"],
        )
        expect_true(stocks == (3, 3), f"stocks after rejected orders are {stocks}, want (3, 3)")

    await ctx.eventually(untouched)
    how = "409 insufficient_stock" if ctx.mode == "sync" else "rejected"
    return f"{how}; a partly satisfiable order reserves nothing"


def _check_stats_shape(stats: Any) -> None:
    orders = stats.get("orders") if isinstance(stats, dict) else None
    expect_true(
        isinstance(orders, dict)
        and all(is_int(orders.get(k)) for k in ("pending", "confirmed", "rejected"))
        and all(is_int(stats.get(k)) for k in ("users", "products", "stock_total", "units_sold")),
        f"stats shape wrong: {stats!r}",
    )


async def check_stats(ctx: Context) -> str:
    expect(await ctx.api.call("GET", "/stats"), 401, "unauthorized")
    expect(await ctx.api.call("GET", "/stats", token=ctx.user.token), 403, "forbidden")
    before = await ctx.stats()
    _check_stats_shape(before)
    product = await ctx.new_product(stock=7)
    outcome = await ctx.place_order(
        ctx.user.token, {"items": [{"product_id": product["id"], "quantity": 3}]}
    )
    expect_true(outcome.result == "confirmed", f"order not confirmed: {outcome.reply.describe()}")

    async def moved() -> dict:
        after = await ctx.stats()
        _check_stats_shape(after)
        deltas = {
            "products": after["products"] - before["products"],
            "stock_total": after["stock_total"] - before["stock_total"],
            "units_sold": after["units_sold"] - before["units_sold"],
            "confirmed": after["orders"]["confirmed"] - before["orders"]["confirmed"],
        }
        want = {"products": 1, "stock_total": 4, "units_sold": 3, "confirmed": 1}
        expect_true(deltas == want, f"stats moved by {deltas}, want {want}")
        return after

    await ctx.eventually(moved)
    return "401/403 enforced; an order of 3 moves stock_total -3+7 new, units_sold +3"


async def check_sql_injection(ctx: Context) -> str:
    before = await ctx.stats()
    created_users = created_products = 0
    for text in SQL_INJECTIONS:
        reply = await ctx.api.call("POST", "/users", json={"username": text, "password": text * 2})
        expect(reply, 400, "invalid")
        reply = await ctx.api.call(
            "POST", "/users", json={"username": ctx.unique("sqli"), "password": text + "-pw"}
        )
        expect(reply, 201)
        created_users += 1
        reply = await ctx.api.call("POST", "/login", json={"username": text, "password": text})
        expect(reply, 401, "unauthorized")
        reply = await ctx.api.call(
            "POST", "/login", json={"username": ctx.user.username, "password": text}
        )
        expect(reply, 401, "unauthorized")
        product = await ctx.new_product(stock=1, name=text)
        created_products += 1
        expect_true((await ctx.product(product["id"]))["name"] == text, "name not stored verbatim")
        quoted = quote(text, safe="")
        for path in (f"/products/{quoted}", f"/orders/{quoted}", f"/products?limit={quoted}"):
            reply = await ctx.api.call("GET", path, token=ctx.user.token)
            expect_true(reply.status in (400, 404), f"injection in a URL: {reply.describe()}")
            expect(reply, reply.status)
        reply = await ctx.api.call(
            "POST",
            "/orders",
            json={"items": [{"product_id": text, "quantity": 1}]},
            token=ctx.user.token,
        )
        expect(reply, 400, "invalid")
    after = await ctx.stats()
    expect_true(
        after["users"] - before["users"] == created_users,
        f"users grew by {after['users'] - before['users']}, expected {created_users}",
    )
    expect_true(
        after["products"] - before["products"] == created_products,
        f"products grew by {after['products'] - before['products']}",
    )
    expect_true(after["orders"] == before["orders"], f"orders changed: {after['orders']}")
    expect_true(
        after["stock_total"] - before["stock_total"] == created_products,
        "stock_total moved unexpectedly",
    )
    return f"{len(SQL_INJECTIONS)} injection strings in every text field: no 500, no extra rows"


async def check_concurrent_orders(ctx: Context) -> str:
    product = await ctx.new_product(stock=10, price_cents=100)
    before = await ctx.stats()
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    lowest = [10]
    done = asyncio.Event()

    async def sample_stock() -> None:
        while not done.is_set():
            lowest[0] = min(lowest[0], (await ctx.product(product["id"]))["stock"])
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample_stock())
    try:
        tokens = [ctx.users[i % len(ctx.users)].token for i in range(50)]
        outcomes = await asyncio.gather(*(ctx.place_order(token, body) for token in tokens))
    finally:
        done.set()
        await sampler
    errors = [o.reply.describe() for o in outcomes if o.result == "error"]
    expect_true(not errors, f"{len(errors)} orders failed unexpectedly, e.g. {errors[:2]}")
    confirmed = sum(o.result == "confirmed" for o in outcomes)
    rejected = sum(o.result == "rejected" for o in outcomes)
    expect_true(
        (confirmed, rejected) == (10, 40),
        f"{confirmed} confirmed and {rejected} rejected, want 10 and 40",
    )

    async def settled() -> None:
        stock = (await ctx.product(product["id"]))["stock"]
        expect_true(stock == 0, f"stock ended at {stock}, want 0")
        after = await ctx.stats()
        sold = after["units_sold"] - before["units_sold"]
        expect_true(sold == 10, f"units_sold grew by {sold}, want 10")

    await ctx.eventually(settled)
    expect_true(lowest[0] >= 0, f"stock was seen at {lowest[0]}")
    slowest = max(o.pending_s for o in outcomes)
    extra = f", slowest final status after {slowest:.2f} s" if ctx.mode == "async" else ""
    return f"50 concurrent orders for stock 10: 10 confirmed, 40 rejected, stock 0{extra}"


async def check_read_after_order(ctx: Context) -> str:
    """A product read after a confirmed order shows the new stock at once, cached or not.

    The product and the page listing it are read first (a cache would now hold them), then an
    order is confirmed (201, or 202 then ``confirmed``); the very next reads, without retrying,
    must show the stock the order left: a cache must be invalidated before the order is.
    """
    product = await ctx.new_product(stock=9, price_cents=300)
    count = int((await ctx.stats())["products"])  # the newest product is among the last ones
    page_path = f"/products?limit=100&offset={max(0, count - 50)}"

    async def listed() -> dict[str, Any] | None:
        page = expect(await ctx.api.call("GET", page_path), 200)
        return next((p for p in page if p["id"] == product["id"]), None)

    for _ in range(2):  # twice: the second read is the one a cache answers
        expect_true((await ctx.product(product["id"]))["stock"] == 9, "stock before the order")
        before = await listed()
        expect_true(before is None or before["stock"] == 9, f"page before the order: {before!r}")
    items = [{"product_id": product["id"], "quantity": 4}]
    outcome = await ctx.place_order(ctx.user.token, {"items": items})
    expect_true(outcome.result == "confirmed", f"order not confirmed: {outcome.reply.describe()}")
    read = (await ctx.product(product["id"]))["stock"]
    expect_true(read == 5, f"GET /products/{{id}} right after the confirmed order: stock {read}, want 5")
    row = await listed()
    expect_true(row is None or row["stock"] == 5,
                f"GET {page_path} right after the confirmed order: {row!r}, want stock 5")
    return f"{ctx.mode}: stock 9 -> 5 visible on the first read after confirmation" + (
        "" if row is not None else " (the product is past the first page)")
