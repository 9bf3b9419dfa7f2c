"""Tokens and passwords of targets.common.auth: what must be rejected is rejected."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from types import SimpleNamespace

import jwt
import orjson
import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from targets.common.auth import (
    Claims,
    bearer_claims,
    decode_token,
    hash_password,
    issue_token,
    require_admin,
    verify_password,
)
from targets.common.http import ApiError

SECRET = "unit-test-secret-unit-test-secret-0123456789"
OTHER_SECRET = "another-secret-another-secret-another-0123456"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def test_issued_token_decodes_to_its_claims() -> None:
    token = issue_token(42, "alice", "user", SECRET, ttl_s=600)
    claims = decode_token(token, SECRET)
    assert claims is not None
    assert (claims.user_id, claims.username, claims.role, claims.is_admin) == (
        42,
        "alice",
        "user",
        False,
    )
    payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert payload["sub"] == "42" and payload["exp"] - payload["iat"] == 600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_token_signed_with_another_secret_is_rejected() -> None:
    assert decode_token(issue_token(1, "a", "admin", OTHER_SECRET, 600), SECRET) is None


def test_tampered_payload_is_rejected() -> None:
    header, _payload, signature = issue_token(1, "bob", "user", SECRET, 600).split(".")
    now = int(time.time())
    forged = _b64({"sub": "1", "name": "bob", "role": "admin", "iat": now, "exp": now + 600})
    assert decode_token(f"{header}.{forged}.{signature}", SECRET) is None


def test_tampered_signature_is_rejected() -> None:
    header, payload, signature = issue_token(1, "bob", "user", SECRET, 600).split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert decode_token(f"{header}.{payload}.{flipped}", SECRET) is None


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256"])
def test_unsigned_tokens_are_rejected(alg: str) -> None:
    now = int(time.time())
    claims = {"sub": "1", "name": "eve", "role": "admin", "iat": now, "exp": now + 600}
    assert decode_token(f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}.", SECRET) is None


def test_expired_token_is_rejected() -> None:
    assert decode_token(issue_token(1, "old", "user", SECRET, ttl_s=-30), SECRET) is None


_GOOD = {"sub": "1", "name": "x", "role": "user"}


@pytest.mark.parametrize(
    ("change", "drop"),
    [
        ({}, "exp"),  # exp is required
        ({}, "iat"),  # iat is required
        ({}, "sub"),
        ({}, "name"),
        ({"sub": "abc"}, None),  # sub is not a user id
        ({"sub": 1}, None),  # sub is not a string
        ({"role": "root"}, None),  # unknown role
    ],
)
def test_tokens_with_missing_or_bad_claims_are_rejected(
    change: dict[str, object], drop: str | None
) -> None:
    now = int(time.time())
    payload: dict[str, object] = {**_GOOD, "iat": now, "exp": now + 600, **change}
    if drop is not None:
        del payload[drop]
    assert decode_token(jwt.encode(payload, SECRET, algorithm="HS256"), SECRET) is None
    control = {**_GOOD, "iat": now, "exp": now + 600}
    assert decode_token(jwt.encode(control, SECRET, algorithm="HS256"), SECRET) is not None


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "...", "é.é.é"])
def test_malformed_tokens_are_rejected(token: str) -> None:
    assert decode_token(token, SECRET) is None


# What aiohttp hands over for header bytes that are not UTF-8: it decodes them with
# surrogateescape, so latin-1 "é" (0xE9) arrives as the lone surrogate U+DCE9.
LATIN1_E = "éééééééééé".encode("latin-1").decode("utf-8", "surrogateescape")
BAD_BYTE = b"abc\xff.def.ghi".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    "token",
    [
        LATIN1_E,
        BAD_BYTE,
        "éééééééééé",  # the same text when it did arrive as UTF-8
        "abc\xff.def.ghi",
        "eyJhbGciOiJIUzI1NiJ9.\udcff.x",
        "a.b.c.d",
        "a..c",
        ".b.c",
        "a b.c.d",
        "x" * 5000 + ".a.b",
        "\x00.\x00.\x00",
        _b64({"alg": "HS256"}) + "." + "e30" + "." + "\udce9" * 3,
    ],
)
def test_tokens_with_bytes_that_are_not_base64url_are_rejected_not_raised(token: str) -> None:
    assert decode_token(token, SECRET) is None


@pytest.mark.parametrize("exp", ["1e400", "NaN", "Infinity", '"soon"', "true", "[1]"])
def test_signed_tokens_with_absurd_expiry_values_are_rejected_not_raised(exp: str) -> None:
    # A correctly signed token whose JSON payload PyJWT parses but int() cannot take.
    header = _b64({"alg": "HS256", "typ": "JWT"})
    now = int(time.time())
    raw = f'{{"sub":"1","name":"x","role":"user","iat":{now},"exp":{exp}}}'.encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    signing_input = f"{header}.{payload}".encode()
    signature = jwt.utils.base64url_encode(
        hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    ).decode()
    assert decode_token(f"{header}.{payload}.{signature}", SECRET) is None


def test_a_user_id_beyond_bigint_is_rejected() -> None:
    assert decode_token(issue_token(2**63, "big", "user", SECRET, 600), SECRET) is None
    assert decode_token(issue_token(2**63 - 1, "big", "user", SECRET, 600), SECRET) is not None


@pytest.mark.parametrize(
    "header",
    [f"Bearer {LATIN1_E}", f"Bearer {BAD_BYTE}", f"{LATIN1_E} token", f"Bearer\t{BAD_BYTE}"],
)
def test_bearer_claims_with_undecodable_header_bytes_is_401(header: str) -> None:
    # make_mocked_request cannot carry surrogates (it re-encodes the headers strictly);
    # bearer_claims reads nothing but the headers, as aiohttp's parser decoded them.
    request = SimpleNamespace(headers=CIMultiDict({"Authorization": header}))
    with pytest.raises(ApiError) as error:
        bearer_claims(request, SECRET)  # type: ignore[arg-type]
    assert (error.value.status, error.value.code) == (401, "unauthorized")


def _request(authorization: str | None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return make_mocked_request("GET", "/orders/x", headers=headers)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Token x"])
def test_bearer_claims_without_a_bearer_token_is_401(header: str | None) -> None:
    with pytest.raises(ApiError) as error:
        bearer_claims(_request(header), SECRET)
    assert (error.value.status, error.value.code) == (401, "unauthorized")


def test_bearer_claims_with_an_invalid_token_is_401() -> None:
    token = issue_token(3, "carol", "user", OTHER_SECRET, 600)
    with pytest.raises(ApiError) as error:
        bearer_claims(_request(f"Bearer {token}"), SECRET)
    assert error.value.status == 401


def test_bearer_claims_accepts_a_valid_token_in_any_scheme_case() -> None:
    token = issue_token(3, "carol", "admin", SECRET, 600)
    claims = bearer_claims(_request(f"bearer {token}"), SECRET)
    assert claims.user_id == 3 and require_admin(claims) is claims


def test_require_admin_refuses_users_with_403() -> None:
    with pytest.raises(ApiError) as error:
        require_admin(Claims(user_id=1, username="u", role="user", exp=0))
    assert (error.value.status, error.value.code) == (403, "forbidden")


async def test_password_hash_is_argon2id_with_the_shared_parameters() -> None:
    stored = await hash_password("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await verify_password(stored, "correct horse battery")
    assert not await verify_password(stored, "correct horse battery!")
    assert stored != await hash_password("correct horse battery")  # salted


async def test_verify_password_of_unknown_user_or_broken_hash_is_false() -> None:
    assert not await verify_password(None, "anything")
    assert not await verify_password("not-a-hash", "anything")
