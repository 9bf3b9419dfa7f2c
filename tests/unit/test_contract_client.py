"""Pure parts of harness.contract: loopback-only URLs, check selection, reply assertions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from harness.contract import CHECK_NAMES, check_names, run_contract
from harness.contract._client import (
    CheckFailed,
    Reply,
    check_base_url,
    expect,
    parse_raw_response,
)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080",
        "https://127.0.0.1:8443",
        "http://localhost:8080",
        "http://127.0.0.2:80",
        "http://example.com",
        "ftp://127.0.0.1",
    ],
)
def test_only_plain_http_on_127_0_0_1_is_allowed(url: str) -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        check_base_url(url)


def test_loopback_url_is_normalised() -> None:
    assert check_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def test_a_non_loopback_target_is_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        run_contract("http://192.0.2.1:80", "admin", "password")


def test_unknown_check_names_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="no_such_check"):
        run_contract("http://127.0.0.1:9", "admin", "pw", only=["health", "no_such_check"])


def test_expired_token_check_needs_the_secret() -> None:
    assert "expired_token_401" in check_names(True)
    assert "expired_token_401" not in check_names(False)
    assert check_names(True) == list(CHECK_NAMES)
    assert len(set(CHECK_NAMES)) == len(CHECK_NAMES)


def _reply(status: int, body: Any, content_type: str = "application/json") -> Reply:
    text = orjson.dumps(body).decode()
    return Reply("GET", "/x", status, content_type, text, body)


def test_expect_returns_the_body_of_the_expected_status() -> None:
    assert expect(_reply(200, {"status": "ok"}), 200) == {"status": "ok"}
    assert expect(_reply(404, {"error": "not_found", "message": "m"}), 404, "not_found")


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (_reply(500, {"error": "internal", "message": "m"}), 400, "invalid"),  # wrong status
        (_reply(400, {"error": "conflict", "message": "m"}), 400, "invalid"),  # wrong code
        (_reply(400, {"error": "invalid"}), 400, "invalid"),  # no message
        (_reply(400, {"error": "invalid", "message": "m", "x": 1}), 400, None),  # extra key
        (_reply(400, ["invalid"]), 400, None),  # not an object
        (_reply(404, {"error": "not_found", "message": "m"}, "text/plain"), 404, None),
    ],
)
def test_expect_fails_on_contract_violations(reply: Reply, status: int, code: str | None) -> None:
    with pytest.raises(CheckFailed):
        expect(reply, status, code)


def test_raw_responses_are_parsed_by_length_chunks_or_eof() -> None:
    body = b'{"error":"unauthorized","message":"invalid or expired token"}'
    by_length = (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json; charset=utf-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body + b"junk"
    )
    reply = parse_raw_response("GET", "/stats", by_length)
    assert (reply.status, reply.content_type) == (401, "application/json")
    assert expect(reply, 401, "unauthorized")["message"] == "invalid or expired token"
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
        b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    assert parse_raw_response("GET", "/x", chunked).body == {"a": 1}
    to_eof = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2]"
    assert parse_raw_response("GET", "/x", to_eof).body == [1, 2]


@pytest.mark.parametrize("raw", [b"", b"garbage", b"HTTP/1.1 abc OK\r\n\r\n", b"SSH-2.0\r\n\r\n"])
def test_a_raw_answer_that_is_not_http_fails_the_check(raw: bytes) -> None:
    with pytest.raises(CheckFailed):
        parse_raw_response("GET", "/x", raw)


def test_the_suite_has_the_issue_11_rows() -> None:
    for name in (
        "token_encoding_401",
        "username_case_409",
        "health_under_load",
        "canonical_ids_404",
    ):
        assert name in CHECK_NAMES
