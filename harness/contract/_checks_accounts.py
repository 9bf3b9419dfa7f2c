"""Contract checks: health (also under load), routing, users, login and tokens.

Each check takes a ``Context``, raises ``CheckFailed`` (or ``AssertionError``)
on a violation and returns a short detail string on success. Checks are
independent: each creates the products and orders it needs.
"""

from __future__ import annotations

import asyncio
import base64
import resource
import secrets
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
import jwt
import orjson

from harness.contract._client import (
    MISSING,
    REQUEST_TIMEOUT_S,
    CheckFailed,
    Context,
    expect,
    expect_true,
    is_int,
)
from targets.common.serve import raise_open_files_limit

INVALID_LOGIN = {"error": "unauthorized", "message": "invalid username or password"}

HEALTH_LOAD_CONNECTIONS = 1000  # concurrent keep-alive connections of health_under_load
HEALTH_LOAD_ROUNDS = 4  # GET /health each connection sends, one after another
HEALTH_LOAD_LIMIT_S = 60.0  # seconds the whole burst may take

# Authorization headers whose bytes are not a token (nor UTF-8): aiohttp's client would
# re-encode them, so they are sent with Api.raw_call exactly as written here.
MALFORMED_AUTHORIZATIONS: tuple[tuple[str, bytes], ...] = (
    ("latin-1 bytes", b"Bearer " + "éééééééééé".encode("latin-1")),
    ("an invalid UTF-8 byte", b"Bearer abc\xff.def.ghi"),
    ("UTF-8 non-ASCII", "Bearer éééééééééé".encode()),
    ("a latin-1 scheme", "Béarer abc.def.ghi".encode("latin-1")),
)


async def check_health(ctx: Context) -> str:
    body = expect(await ctx.api.call("GET", "/health"), 200)
    expect_true(body == {"status": "ok"}, f"health body {body!r} is not {{'status': 'ok'}}")
    return "200 {status: ok}"


async def check_health_under_load(ctx: Context) -> str:
    """Many concurrent health requests must not make a healthy target report an outage."""
    needed = HEALTH_LOAD_CONNECTIONS + 256  # the sockets plus what the process holds anyway
    limit = raise_open_files_limit(needed)  # the targets' own rule (targets.common.serve)
    allowed = needed if limit == resource.RLIM_INFINITY else limit
    expect_true(
        allowed >= needed,
        f"this process may open {allowed} files, {needed} needed for health_under_load "
        "(raise `ulimit -n`)",
    )
    total = HEALTH_LOAD_CONNECTIONS * HEALTH_LOAD_ROUNDS
    outcomes: Counter[str] = Counter()
    url = ctx.api.base_url + "/health"
    connector = aiohttp.TCPConnector(limit=HEALTH_LOAD_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            for _ in range(HEALTH_LOAD_ROUNDS):
                try:
                    async with session.get(url) as response:
                        body = await response.read()
                        ok = response.status == 200 and body == b'{"status":"ok"}'
                        outcome = "ok" if ok else f"{response.status} {body[:120]!r}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    outcome = f"{exc.__class__.__name__}: {exc}"
                outcomes[outcome] += 1

        started = time.monotonic()
        try:
            async with asyncio.timeout(HEALTH_LOAD_LIMIT_S):
                await asyncio.gather(*(client() for _ in range(HEALTH_LOAD_CONNECTIONS)))
        except TimeoutError:
            raise CheckFailed(
                f"{total} GET /health over {HEALTH_LOAD_CONNECTIONS} connections took over "
                f"{HEALTH_LOAD_LIMIT_S:.0f} s ({sum(outcomes.values())} answered)"
            ) from None
        elapsed = time.monotonic() - started
    failed = {outcome: n for outcome, n in outcomes.items() if outcome != "ok"}
    if failed:
        worst = sorted(failed.items(), key=lambda item: -item[1])[:3]
        raise CheckFailed(
            f"{sum(failed.values())} of {total} concurrent GET /health were not 200 "
            f"{{status: ok}} while nothing was down: {worst}"
        )
    return (
        f"{total} GET /health over {HEALTH_LOAD_CONNECTIONS} keep-alive connections: "
        f"all 200 in {elapsed:.1f} s"
    )


async def check_unknown_route(ctx: Context) -> str:
    expect(await ctx.api.call("GET", f"/no-such-route-{ctx.tag}"), 404, "not_found")
    expect(await ctx.api.call("POST", "/no/such/route", json={}), 404, "not_found")
    return "404 JSON for unknown routes"


async def check_wrong_method(ctx: Context) -> str:
    expect(await ctx.api.call("DELETE", "/products"), 405)
    expect(await ctx.api.call("PUT", "/users", json={}), 405)
    return "405 JSON for DELETE /products and PUT /users"


async def check_create_user(ctx: Context) -> str:
    username = ctx.unique("u")
    body = expect(
        await ctx.api.call("POST", "/users", json={"username": username, "password": "s3cret-pw"}),
        201,
    )
    expect_true(is_int(body.get("id")), f"user id is not an integer: {body!r}")
    expect_true(body.get("username") == username, f"username not echoed: {body!r}")
    leaked = {"password", "password_hash", "hash"} & set(body)
    expect_true(not leaked, f"user answer leaks {sorted(leaked)}")
    # boundaries: 3 and 64 characters, passwords of 8 and 128 characters
    for name, password in (
        (
            "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3)),
            "p" * 8,
        ),
        ((ctx.unique("long") + "_" + "x" * 64)[:64], "p" * 128),
        (ctx.unique("A.b-c_9"), "pässwörd-ünicode"),
    ):
        reply = await ctx.api.call("POST", "/users", json={"username": name, "password": password})
        if reply.status == 409 and len(name) == 3:  # a 3-letter name from an earlier run
            continue
        expect(reply, 201)
    return "201 {id, username}; 3/64-char usernames and 8/128-char passwords accepted"


async def check_duplicate_username(ctx: Context) -> str:
    body = {"username": ctx.user.username, "password": "another-password"}
    expect(await ctx.api.call("POST", "/users", json=body), 409, "conflict")
    return "409 conflict for a taken username"


async def check_username_case(ctx: Context) -> str:
    """One account per name whatever its case or surrounding spaces; login takes any of them."""
    before = (await ctx.stats())["users"]
    name = ctx.unique("CaseUser")  # ct_<tag>_CaseUser_<hex>
    stored = name.lower()
    password = "case-" + secrets.token_urlsafe(9)
    created = expect(
        await ctx.api.call("POST", "/users", json={"username": name, "password": password}), 201
    )
    expect_true(
        created.get("username") == stored,
        f"sign-up as {name!r} answered {created!r}: the stored name must be {stored!r}",
    )
    variants = (stored, name.upper(), name.swapcase(), f"  {name} ")
    for variant in variants:
        body = {"username": variant, "password": "another-password"}
        reply = await ctx.api.call("POST", "/users", json=body)
        if reply.status != 409:
            raise CheckFailed(f"{variant!r} after {name!r} is a second account: {reply.describe()}")
        expect(reply, 409, "conflict")
    for variant in (name, *variants):
        body = expect(
            await ctx.api.call("POST", "/login", json={"username": variant, "password": password}),
            200,
        )
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        expect_true(
            claims.get("sub") == str(created["id"]) and claims.get("name") == stored,
            f"login as {variant!r} gave claims {claims!r}, not user {created['id']} {stored!r}",
        )
    wrong = {"username": name.upper(), "password": "wrong-password"}
    body = expect(await ctx.api.call("POST", "/login", json=wrong), 401, "unauthorized")
    expect_true(body == INVALID_LOGIN, f"login failure body {body!r} != {INVALID_LOGIN!r}")
    grown = (await ctx.stats())["users"] - before
    expect_true(grown == 1, f"users grew by {grown} for one name in {len(variants) + 1} spellings")
    return (
        f"names differing in case or spaces are one account (409, stored as {stored!r}); "
        "login works with any of them"
    )


async def check_create_user_invalid(ctx: Context) -> str:
    ok = ctx.unique("v")
    bodies: list[Any] = [
        {"password": "long-enough"},
        {"username": ok},
        {"username": "ab", "password": "long-enough"},
        {"username": "x" * 65, "password": "long-enough"},
        {"username": "has space", "password": "long-enough"},
        {"username": "ünïcode", "password": "long-enough"},
        {"username": "nul\u0000byte", "password": "long-enough"},
        {"username": ok, "password": "short7!"},
        {"username": ok, "password": "p" * 129},
        {"username": 12345, "password": "long-enough"},
        {"username": ok, "password": ["long-enough"]},
        {"username": None, "password": "long-enough"},
        {"username": ok, "password": True},
    ]
    for body in bodies:
        expect(await ctx.api.call("POST", "/users", json=body), 400, "invalid")
    found = await ctx.api.call("POST", "/login", json={"username": ok, "password": "long-enough"})
    expect(found, 401, "unauthorized")
    return f"{len(bodies)} invalid bodies -> 400 invalid, none created"


async def check_bad_json(ctx: Context) -> str:
    token = ctx.user.token
    cases = 0
    for path, auth in (
        ("/users", None),
        ("/login", None),
        ("/products", ctx.admin_token),
        ("/orders", token),
    ):
        for raw in (b"{", b"[1, 2]", b"", b"null", b'"text"', b'{"a": 1,}', b"\xff\xfe"):
            expect(await ctx.api.call("POST", path, raw=raw, token=auth), 400, "invalid")
            cases += 1
    return f"{cases} malformed or non-object bodies -> 400 invalid"


async def check_body_too_large(ctx: Context) -> str:
    big = "x" * (70 * 1024)
    expect(
        await ctx.api.call("POST", "/users", json={"username": big, "password": big}),
        413,
        "too_large",
    )
    expect(
        await ctx.api.call("POST", "/login", json={"username": "a", "password": big}),
        413,
        "too_large",
    )
    items = [{"product_id": 1, "quantity": 1, "pad": big}]
    expect(
        await ctx.api.call("POST", "/orders", json={"items": items}, token=ctx.user.token),
        413,
        "too_large",
    )
    return "70 KiB bodies -> 413 too_large"


async def check_login(ctx: Context) -> str:
    reply = await ctx.api.call(
        "POST", "/login", json={"username": ctx.user.username, "password": ctx.user.password}
    )
    body = expect(reply, 200)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or token.count(".") != 2:
        raise CheckFailed(f"no JWT in {body!r}")
    header = jwt.get_unverified_header(token)
    expect_true(header.get("alg") == "HS256", f"token algorithm is {header.get('alg')!r}")
    claims = jwt.decode(token, options={"verify_signature": False})
    missing = {"sub", "name", "role", "iat", "exp"} - set(claims)
    expect_true(not missing, f"token lacks claims {sorted(missing)}")
    expect_true(
        claims["sub"] == str(ctx.user.id)
        and claims["name"] == ctx.user.username
        and claims["role"] == "user",
        f"token claims {claims!r} do not match the user",
    )
    expect_true(claims["exp"] > time.time(), "token already expired")
    if ctx.token_secret is not None:
        jwt.decode(token, ctx.token_secret, algorithms=["HS256"])  # raises if badly signed
    admin = jwt.decode(ctx.admin_token, options={"verify_signature": False})
    expect_true(admin.get("role") == "admin", f"admin token role is {admin.get('role')!r}")
    # the token is accepted: an unknown order is 404, not 401
    expect(await ctx.api.call("GET", f"/orders/{uuid.uuid4()}", token=token), 404, "not_found")
    return "200 {token}: HS256 with sub/name/role/iat/exp"


async def check_login_failure(ctx: Context) -> str:
    unknown = await ctx.api.call(
        "POST", "/login", json={"username": ctx.unique("nobody"), "password": "whatever-pw"}
    )
    wrong = await ctx.api.call(
        "POST", "/login", json={"username": ctx.user.username, "password": "wrong-password"}
    )
    for reply in (unknown, wrong):
        body = expect(reply, 401, "unauthorized")
        expect_true(body == INVALID_LOGIN, f"login failure body {body!r} != {INVALID_LOGIN!r}")
    expect_true(unknown.text == wrong.text, "unknown user and wrong password answer differently")
    for body in ({}, {"username": ctx.user.username}, {"username": 1, "password": 2}):
        reply = await ctx.api.call("POST", "/login", json=body)
        expect_true(reply.status in (400, 401), f"expected 400 or 401: {reply.describe()}")
        expect(reply, reply.status)
    return "401 with identical bodies; missing fields -> 400/401"


def _forge_unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()

    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."


def _bad_tokens(ctx: Context) -> dict[str, str]:
    token = ctx.user.token
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    admin_claims = {**claims, "role": "admin"}
    forged = base64.urlsafe_b64encode(orjson.dumps(admin_claims)).rstrip(b"=").decode()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    now = int(time.time())
    return {
        "tampered payload (role admin)": f"{header}.{forged}.{signature}",
        "tampered signature": f"{header}.{payload}.{flipped}",
        "alg none": _forge_unsigned(admin_claims),
        "alg None": _forge_unsigned(admin_claims, "None"),
        "HS256 without signature": f"{header}.{forged}.",
        "wrong secret": jwt.encode(
            {**admin_claims, "iat": now, "exp": now + 600},
            "not-the-secret-" + secrets.token_hex(24),
            algorithm="HS256",
        ),
        "garbage": "not.a.token",
    }


async def check_bad_tokens(ctx: Context) -> str:
    product = await ctx.new_product(stock=3)
    order = {"items": [{"product_id": product["id"], "quantity": 1}]}
    known = await ctx.place_order(ctx.user.token, order)
    expect_true(known.result == "confirmed", f"order not confirmed: {known.reply.describe()}")
    order_path = f"/orders/{known.reply.body['id']}"
    expect(await ctx.api.call("POST", "/orders", json=order), 401, "unauthorized")
    expect(await ctx.api.call("GET", order_path), 401, "unauthorized")
    expect(await ctx.api.call("GET", "/stats"), 401, "unauthorized")
    expect(
        await ctx.api.call(
            "POST", "/orders", json=order, headers={"Authorization": f"Basic {ctx.user.token}"}
        ),
        401,
        "unauthorized",
    )
    for label, token in _bad_tokens(ctx).items():
        for method, path, body in (
            ("POST", "/orders", order),
            ("GET", order_path, MISSING),
            ("GET", "/stats", MISSING),
            ("POST", "/products", {"name": "x", "price_cents": 1, "stock": 1}),
        ):
            reply = await ctx.api.call(method, path, json=body, token=token)
            if reply.status != 401:
                raise CheckFailed(f"{label} token accepted: {reply.describe()}")
            expect(reply, 401, "unauthorized")
    stock = (await ctx.product(product["id"]))["stock"]
    expect_true(stock == 2, f"a rejected token changed stock to {stock}")
    return "401 for missing, tampered, alg none, unsigned and wrongly signed tokens"


async def check_token_encoding(ctx: Context) -> str:
    """Authorization headers whose bytes are no token, on every authenticated route: 401."""
    order = orjson.dumps({"items": [{"product_id": 1, "quantity": 1}]})
    product = orjson.dumps({"name": ctx.unique("p"), "price_cents": 1, "stock": 1})
    routes = (
        ("POST", "/orders", order),
        ("GET", f"/orders/{uuid.uuid4()}", b""),
        ("GET", "/stats", b""),
        ("POST", "/products", product),
    )
    for label, authorization in MALFORMED_AUTHORIZATIONS:
        for method, path, body in routes:
            headers = [(b"Authorization", authorization), (b"Content-Type", b"application/json")]
            reply = await ctx.api.raw_call(method, path, headers=headers, body=body)
            if reply.status != 401:
                raise CheckFailed(f"Authorization with {label}: {reply.describe()}")
            expect(reply, 401, "unauthorized")
    cases = len(MALFORMED_AUTHORIZATIONS) * len(routes)
    return f"{cases} tokens of latin-1, invalid UTF-8 or non-ASCII bytes -> 401 unauthorized"


async def check_expired_token(ctx: Context) -> str:
    assert ctx.token_secret is not None
    now = int(time.time())
    base = {"sub": str(ctx.user.id), "name": ctx.user.username, "role": "user"}
    valid = jwt.encode({**base, "iat": now, "exp": now + 600}, ctx.token_secret, algorithm="HS256")
    expired = jwt.encode(
        {**base, "iat": now - 7200, "exp": now - 3600}, ctx.token_secret, algorithm="HS256"
    )
    no_exp = jwt.encode({**base, "iat": now}, ctx.token_secret, algorithm="HS256")
    path = f"/orders/{uuid.uuid4()}"
    expect(await ctx.api.call("GET", path, token=valid), 404, "not_found")  # control: accepted
    expect(await ctx.api.call("GET", path, token=expired), 401, "unauthorized")
    expect(await ctx.api.call("GET", path, token=no_exp), 401, "unauthorized")
    return "a token minted with the secret works; expired or exp-less ones get 401"
