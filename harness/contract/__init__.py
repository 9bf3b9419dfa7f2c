"""The HTTP contract, checked against a running target (``bench verify`` and ``tests/contract``).

Public API:

- ``CheckResult(name, ok, detail)``: the outcome of one named check.
- ``CHECK_NAMES``: every check name, in run order.
- ``check_names(with_token_secret) -> list[str]``: the checks ``run_contract``
  runs (``expired_token_401`` needs the token secret to mint an expired token).
- ``run_contract(base_url, admin_username, admin_password, *, token_secret=None,
  only=None) -> list[CheckResult]``: run the checks (all, or the names in
  ``only``) one after another against ``base_url`` (http://127.0.0.1:PORT only)
  and return one result per check. A failed setup (health, admin login, creating
  the run's users) fails every check with the reason.
- ``run_contract_async(...)``: the same, as a coroutine.

Whether orders are synchronous (201 confirmed / 409 insufficient_stock) or
asynchronous (202 pending, then polled with ``GET /orders/{id}`` until
confirmed or rejected, at most 30 s) is detected from the answers; a target
mixing both fails. Each check creates its own products; users and names carry
a random tag, so the suite can run repeatedly against the same deployment.
The checks run sequentially because several compare ``/stats`` before and
after: nothing else should write to the target meanwhile.

Rules of the contract the checks pin down beyond the README's endpoint table:

- Ids in paths are accepted only in their canonical spelling: a product id is
  ``[1-9][0-9]*`` (at most 2**63-1), an order id the lowercase hyphenated UUID
  ``POST /orders`` answered. Any other spelling of an integer (``/products/01``,
  ``+1``, `` 1``, ``0``, ``-1``) or of a UUID (upper case, braces, ``urn:uuid:``,
  no hyphens) names nothing: 404 ``not_found``, as for an unknown id. A product
  id that is no integer at all (``abc``, ``1.5``) stays 400 ``invalid``
  (``canonical_ids_404``, ``product_get``, ``order_unknown_404``).
- Usernames are one account per name whatever the case and surrounding spaces:
  a target stores and answers the trimmed, lowercased name, a second sign-up
  differing only in case is 409 ``conflict``, and login accepts any such spelling
  (``username_case_409``).
- An ``Authorization`` header whose bytes are no token (latin-1 or invalid UTF-8
  bytes, non-ASCII text) is 401 ``unauthorized`` with the usual error body on
  every authenticated route, never a 500 (``token_encoding_401``).
- A product read after a confirmed order (201, or 202 then ``confirmed``) shows the new
  stock on the first try, in ``GET /products/{id}`` and in ``GET /products``: a target
  that caches product reads invalidates before it confirms (``read_after_order_shows_new_stock``).
- ``GET /health`` tells the truth under load: 1000 keep-alive connections sending 4
  requests each (``_checks_accounts.HEALTH_LOAD_*``) at a healthy target all get 200
  (``health_under_load``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp

from harness.contract._checks_accounts import (
    check_bad_json,
    check_bad_tokens,
    check_body_too_large,
    check_create_user,
    check_create_user_invalid,
    check_duplicate_username,
    check_expired_token,
    check_health,
    check_health_under_load,
    check_login,
    check_login_failure,
    check_token_encoding,
    check_unknown_route,
    check_username_case,
    check_wrong_method,
)
from harness.contract._checks_orders import (
    check_canonical_ids,
    check_concurrent_orders,
    check_create_product,
    check_create_product_auth,
    check_create_product_invalid,
    check_insufficient_stock,
    check_order,
    check_order_ignores_extra_fields,
    check_order_invalid,
    check_order_owner_only,
    check_order_unknown,
    check_order_unknown_product,
    check_product_get,
    check_products_paging,
    check_read_after_order,
    check_sql_injection,
    check_stats,
)
from harness.contract._client import (
    REQUEST_TIMEOUT_S,
    Api,
    CheckFailed,
    Context,
    User,
    check_base_url,
    expect,
)

Check = Callable[[Context], Awaitable[str]]

# name -> check, in the order they run; "expired_token" needs the token secret.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("health", check_health),
    ("health_under_load", check_health_under_load),
    ("unknown_route_404", check_unknown_route),
    ("wrong_method_405", check_wrong_method),
    ("create_user", check_create_user),
    ("duplicate_username_409", check_duplicate_username),
    ("username_case_409", check_username_case),
    ("create_user_invalid_400", check_create_user_invalid),
    ("bad_json_400", check_bad_json),
    ("body_too_large_413", check_body_too_large),
    ("login", check_login),
    ("login_failure_401_same_body", check_login_failure),
    ("products_paging", check_products_paging),
    ("product_get", check_product_get),
    ("create_product_admin", check_create_product),
    ("create_product_auth_401_403", check_create_product_auth),
    ("create_product_invalid_400", check_create_product_invalid),
    ("order", check_order),
    ("order_ignores_extra_fields", check_order_ignores_extra_fields),
    ("read_after_order_shows_new_stock", check_read_after_order),
    ("order_invalid_400", check_order_invalid),
    ("bad_tokens_401", check_bad_tokens),
    ("token_encoding_401", check_token_encoding),
    ("expired_token_401", check_expired_token),
    ("order_other_user_404", check_order_owner_only),
    ("order_unknown_404", check_order_unknown),
    ("canonical_ids_404", check_canonical_ids),
    ("order_unknown_product_404", check_order_unknown_product),
    ("insufficient_stock", check_insufficient_stock),
    ("stats_admin", check_stats),
    ("sql_injection", check_sql_injection),
    ("concurrent_orders_no_oversell", check_concurrent_orders),
)
NEEDS_TOKEN_SECRET = frozenset({"expired_token_401"})

CHECK_NAMES: tuple[str, ...] = tuple(name for name, _ in CHECKS)
HEALTH_WAIT_S = 30.0  # seconds setup waits for GET /health to answer 200
USERS_PER_RUN = 2


@dataclass(frozen=True)
class CheckResult:
    """One contract check: its name, whether it passed, and what it saw."""

    name: str
    ok: bool
    detail: str


def check_names(with_token_secret: bool) -> list[str]:
    """Names of the checks ``run_contract`` runs with or without a token secret."""
    return [n for n in CHECK_NAMES if with_token_secret or n not in NEEDS_TOKEN_SECRET]


async def _wait_healthy(api: Api) -> None:
    deadline = time.monotonic() + HEALTH_WAIT_S
    while True:
        try:
            reply = await api.call("GET", "/health")
            if reply.status == 200:
                return
            detail = reply.describe()
        except aiohttp.ClientError as exc:
            detail = f"{exc.__class__.__name__}: {exc}"
        if time.monotonic() > deadline:
            raise CheckFailed(f"target not healthy after {HEALTH_WAIT_S:.0f} s: {detail}")
        await asyncio.sleep(0.5)


async def _login(api: Api, username: str, password: str) -> str:
    body = expect(
        await api.call("POST", "/login", json={"username": username, "password": password}), 200
    )
    return str(body["token"])


async def _setup(
    api: Api, admin_username: str, admin_password: str, token_secret: str | None
) -> Context:
    await _wait_healthy(api)
    tag = secrets.token_hex(3)
    admin_token = await _login(api, admin_username, admin_password)
    users = []
    for index in range(USERS_PER_RUN):
        username = f"ct_{tag}_user{index}"
        password = secrets.token_urlsafe(12)
        body = expect(
            await api.call("POST", "/users", json={"username": username, "password": password}),
            201,
        )
        users.append(
            User(username, password, int(body["id"]), await _login(api, username, password))
        )
    return Context(api, admin_token, users, tag, token_secret)


async def run_contract_async(
    base_url: str,
    admin_username: str,
    admin_password: str,
    *,
    token_secret: str | None = None,
    only: Iterable[str] | None = None,
) -> list[CheckResult]:
    """Run the contract checks against ``base_url``; one ``CheckResult`` per check."""
    base_url = check_base_url(base_url)
    wanted = set(check_names(token_secret is not None))
    if only is not None:
        requested = set(only)
        unknown = requested - set(CHECK_NAMES)
        if unknown:
            raise ValueError(f"unknown contract checks {sorted(unknown)}; valid: {CHECK_NAMES}")
        wanted &= requested
    selected = [(name, check) for name, check in CHECKS if name in wanted]
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        api = Api(session, base_url)
        try:
            ctx = await _setup(api, admin_username, admin_password, token_secret)
        except (TimeoutError, CheckFailed, aiohttp.ClientError, KeyError, TypeError) as exc:
            reason = f"setup failed: {exc.__class__.__name__}: {exc}"
            return [CheckResult(name, False, reason) for name, _ in selected]
        results = []
        for name, check in selected:
            try:
                detail = await check(ctx)
                results.append(CheckResult(name, True, detail))
            except (CheckFailed, AssertionError) as exc:
                results.append(CheckResult(name, False, str(exc) or repr(exc)))
            except Exception as exc:  # noqa: BLE001 - a broken answer fails the check, not the run
                results.append(CheckResult(name, False, f"{exc.__class__.__name__}: {exc}"))
        return results


def run_contract(
    base_url: str,
    admin_username: str,
    admin_password: str,
    *,
    token_secret: str | None = None,
    only: Iterable[str] | None = None,
) -> list[CheckResult]:
    """Synchronous ``run_contract_async`` (must not be called from a running event loop)."""
    return asyncio.run(
        run_contract_async(
            base_url, admin_username, admin_password, token_secret=token_secret, only=only
        )
    )
