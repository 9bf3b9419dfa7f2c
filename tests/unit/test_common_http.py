"""Validators, request parsing and JSON errors of targets.common.http."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from targets.common.http import (
    MAX_BIGINT,
    ApiError,
    HealthProbe,
    ValidationError,
    client_disconnected,
    get_int,
    get_list,
    get_str,
    health_handler,
    json_response,
    new_application,
    parse_path_id,
    path_int,
    query_int,
    read_json_object,
)


@pytest.mark.parametrize("value", [True, False, 1.0, 2.5, "3", None, [3], {"v": 3}])
def test_get_int_rejects_non_integers_including_bool(value: Any) -> None:
    with pytest.raises(ValidationError, match="quantity must be an integer"):
        get_int({"quantity": value}, "quantity", minimum=0, maximum=10)


@pytest.mark.parametrize(("value", "ok"), [(-1, False), (0, True), (10, True), (11, False)])
def test_get_int_enforces_inclusive_range(value: int, ok: bool) -> None:
    if ok:
        assert get_int({"n": value}, "n", minimum=0, maximum=10) == value
    else:
        with pytest.raises(ValidationError, match="n must be between 0 and 10"):
            get_int({"n": value}, "n", minimum=0, maximum=10)


def test_missing_fields_are_named() -> None:
    for call in (
        lambda: get_int({}, "price_cents", minimum=0, maximum=1),
        lambda: get_str({}, "price_cents", min_length=1, max_length=2),
        lambda: get_list({}, "price_cents", min_items=1, max_items=2),
    ):
        with pytest.raises(ValidationError, match="price_cents is required") as error:
            call()
        assert (error.value.status, error.value.code) == (400, "invalid")


PATTERN = re.compile(r"[A-Za-z0-9_.-]+")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ab", "3 to 5 characters"),
        ("abcdef", "3 to 5 characters"),
        ("a b", "not allowed"),
        ("ab\x00", "NUL"),
        (12, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_get_str_rejects_bad_strings(value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        get_str({"username": value}, "username", min_length=3, max_length=5, pattern=PATTERN)


def test_get_str_accepts_boundaries_and_unicode_without_pattern() -> None:
    assert get_str({"u": "abc"}, "u", min_length=3, max_length=5, pattern=PATTERN) == "abc"
    assert get_str({"u": "ab.-_"}, "u", min_length=3, max_length=5, pattern=PATTERN) == "ab.-_"
    assert get_str({"u": "Ünï"}, "u", min_length=1, max_length=3) == "Ünï"


def test_get_list_checks_type_and_length() -> None:
    assert get_list({"items": [1]}, "items", min_items=1, max_items=2) == [1]
    with pytest.raises(ValidationError, match="must be an array"):
        get_list({"items": {"a": 1}}, "items", min_items=1, max_items=2)
    with pytest.raises(ValidationError, match="1 to 2 elements"):
        get_list({"items": []}, "items", min_items=1, max_items=2)
    with pytest.raises(ValidationError, match="1 to 2 elements"):
        get_list({"items": [1, 2, 3]}, "items", min_items=1, max_items=2)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 20),
        ("1", 1),
        ("100", 100),
        ("0", None),
        ("101", None),
        ("", None),
        ("1.5", None),
        ("+1", None),
        (" 1", None),
        ("abc", None),
        ("9" * 30, None),
        ("-" + "9" * 30, None),
    ],
)
def test_query_int(raw: str | None, expected: int | None) -> None:
    query = {} if raw is None else {"limit": raw}
    if expected is None:
        with pytest.raises(ValidationError, match="limit"):
            query_int(query, "limit", default=20, minimum=1, maximum=100)
    else:
        assert query_int(query, "limit", default=20, minimum=1, maximum=100) == expected


def _path_request(value: str) -> web.Request:
    request = make_mocked_request("GET", f"/products/{value}")
    request.match_info.update({"product_id": value})  # what the router would have matched
    return request


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("abc", 400),
        ("1.5", 400),
        ("", 400),
        ("0", 404),
        ("-3", 404),
        (str(MAX_BIGINT + 1), 404),
        ("9" * 40, 404),
    ],
)
def test_path_int_rejects_non_integers_with_400_and_impossible_ids_with_404(
    raw: str, status: int
) -> None:
    with pytest.raises(ApiError) as error:
        path_int(_path_request(raw), "product_id")
    assert error.value.status == status


def test_path_int_accepts_bigint_ids() -> None:
    assert path_int(_path_request(str(MAX_BIGINT)), "product_id") == MAX_BIGINT


def _app() -> web.Application:
    app = new_application(2048)

    async def echo(request: web.Request) -> web.Response:
        data = await read_json_object(request)
        return json_response({"n": get_int(data, "n", minimum=0, maximum=5)}, status=201)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail that must not leak")

    async def lost(request: web.Request) -> web.Response:
        raise ConnectionRefusedError("database down")

    async def broken_connection(request: web.Request) -> web.Response:  # what a killed server leaves
        raise asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress")

    async def failing(app: web.Application) -> None:
        raise ConnectionRefusedError("db down")

    async def passing(app: web.Application) -> None:
        return None

    app.add_routes(
        [
            web.post("/echo", echo),
            web.get("/boom", boom),
            web.get("/lost", lost),
            web.get("/broken-connection", broken_connection),
            web.get("/health", health_handler(passing)),
            web.get("/health-down", health_handler(passing, failing)),
        ]
    )
    return app


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(_app())


async def _error(response: Any) -> tuple[int, str]:
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error", "message"}
    return response.status, body["error"]


async def test_valid_json_object_is_parsed(client: TestClient) -> None:
    response = await client.post("/echo", data=b'{"n": 3, "ignored": true}')
    assert response.status == 201 and await response.json() == {"n": 3}


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b"null", b'"s"', b"\xff", b'{"n": NaN}'])
async def test_bad_json_is_400_invalid(client: TestClient, body: bytes) -> None:
    assert await _error(await client.post("/echo", data=body)) == (400, "invalid")


async def test_validation_error_names_the_field(client: TestClient) -> None:
    response = await client.post("/echo", data=b'{"n": true}')
    assert (await response.json())["message"] == "n must be an integer"


async def test_oversize_body_is_413_too_large(client: TestClient) -> None:
    response = await client.post("/echo", data=b'{"n": "' + b"x" * 4096 + b'"}')
    assert await _error(response) == (413, "too_large")


async def test_unknown_route_and_wrong_method_are_json(client: TestClient) -> None:
    assert await _error(await client.get("/nope")) == (404, "not_found")
    response = await client.delete("/echo")
    assert await _error(response) == (405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


async def test_unexpected_exception_is_500_internal_without_details(client: TestClient) -> None:
    response = await client.get("/boom")
    assert await _error(response) == (500, "internal")
    assert "secret detail" not in await response.text()


async def test_lost_dependency_is_503_unavailable(client: TestClient) -> None:
    assert await _error(await client.get("/lost")) == (503, "unavailable")
    assert await _error(await client.get("/broken-connection")) == (503, "unavailable")


async def test_health_is_ok_or_503_naming_the_failing_check(client: TestClient) -> None:
    response = await client.get("/health")
    assert response.status == 200 and await response.json() == {"status": "ok"}
    response = await client.get("/health-down")
    assert await _error(response) == (503, "unavailable")
    assert "failing" in (await response.json())["message"]


# --- canonical ids -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["01", "007", "+1", " 1", "1 ", "-0", "00", "+01"])
def test_non_canonical_spellings_of_an_id_name_no_product(raw: str) -> None:
    with pytest.raises(ApiError) as error:
        path_int(_path_request(raw), "product_id")
    assert (error.value.status, error.value.code) == (404, "not_found")


@pytest.mark.parametrize("raw", ["1", "10", "9" * 18, str(MAX_BIGINT)])
def test_canonical_ids_parse(raw: str) -> None:
    assert parse_path_id(raw, "product_id") == int(raw)


@pytest.mark.parametrize("raw", ["", " ", "1e3", "0x1", "1_000", "١٢", "1.0", "--1"])
def test_text_that_is_no_integer_is_400(raw: str) -> None:
    with pytest.raises(ValidationError):
        parse_path_id(raw, "product_id")


# --- health probe ----------------------------------------------------------------------------


class _Dependency:
    """A health check that counts its calls, takes ``delay_s`` and fails if begun while ``down``."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls = 0
        self.delay_s = delay_s
        self.down = False
        self.__name__ = "dependency"

    async def __call__(self, app: web.Application) -> None:
        self.calls += 1
        down = self.down
        await asyncio.sleep(self.delay_s)
        if down:
            raise ConnectionRefusedError("refused")


async def test_concurrent_health_requests_share_one_probe() -> None:
    dependency = _Dependency(delay_s=0.05)
    probe = HealthProbe(dependency)
    app = web.Application()
    verdicts = await asyncio.gather(*(probe.verdict(app) for _ in range(500)))
    assert verdicts == [None] * 500
    assert dependency.calls == 1 and probe.probes == 1
    # no TTL: the next request after a probe ended probes again
    assert await probe.verdict(app) is None
    assert dependency.calls == 2


async def test_a_healthy_verdict_is_reused_for_the_ttl_and_a_failure_never() -> None:
    dependency = _Dependency()
    now = [100.0]
    probe = HealthProbe(dependency, ok_ttl_s=1.0, clock=lambda: now[0])
    app = web.Application()
    for _ in range(5):
        assert await probe.verdict(app) is None
    assert dependency.calls == 1
    now[0] += 1.5  # past the TTL
    dependency.down = True
    for _ in range(3):
        failure = await probe.verdict(app)
        assert failure is not None and "dependency: ConnectionRefusedError" in failure
    assert dependency.calls == 4  # failures are probed again every time
    dependency.down = False
    assert await probe.verdict(app) is None
    assert await probe.verdict(app) is None
    assert dependency.calls == 5


async def test_invalidate_drops_the_cached_verdict_and_the_probe_in_flight() -> None:
    dependency = _Dependency(delay_s=0.05)
    probe = HealthProbe(dependency, ok_ttl_s=60.0)
    app = web.Application()
    first = asyncio.ensure_future(probe.verdict(app))
    await asyncio.sleep(0.01)
    dependency.down = True
    probe.invalidate()  # e.g. a forwarded request just found the dependency down
    second = await probe.verdict(app)
    assert second is not None and await first is None
    assert dependency.calls == 2
    dependency.down = False
    assert await probe.verdict(app) is None  # the probe begun before the invalidation...
    assert dependency.calls == 3  # ...did not cache "ok" for 60 s


async def test_a_caller_going_away_does_not_cancel_the_shared_probe() -> None:
    dependency = _Dependency(delay_s=0.05)
    probe = HealthProbe(dependency)
    app = web.Application()
    leaving = asyncio.ensure_future(probe.verdict(app))
    staying = asyncio.ensure_future(probe.verdict(app))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying is None and dependency.calls == 1


# --- client disconnects and slow bodies --------------------------------------------------------


def test_client_disconnected_needs_a_connection_error_and_a_closed_client() -> None:
    gone = SimpleNamespace(transport=None)
    closing = SimpleNamespace(transport=SimpleNamespace(is_closing=lambda: True))
    open_ = SimpleNamespace(transport=SimpleNamespace(is_closing=lambda: False))
    reset = ConnectionResetError("Connection lost")
    assert client_disconnected(gone, reset)  # type: ignore[arg-type]
    assert client_disconnected(closing, reset)  # type: ignore[arg-type]
    assert not client_disconnected(open_, reset)  # type: ignore[arg-type]  # a dependency's
    assert not client_disconnected(gone, TimeoutError())  # type: ignore[arg-type]
