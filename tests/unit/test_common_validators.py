"""Input rules every target shares: accounts, products, order items (targets.common)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from targets.common.accounts import is_valid_username, parse_login, parse_new_account
from targets.common.catalog import parse_new_product, parse_page, product_json
from targets.common.config import ServiceConfigError, load_service_config
from targets.common.http import ApiError, ValidationError
from targets.common.orders import parse_order_id, parse_order_items, path_order_id
from targets.common.usernames import normalize_username

# --- accounts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "stored"),
    [("abc", "abc"), ("a" * 64, "a" * 64), ("A.b_c-9", "a.b_c-9"), ("  Alice\t", "alice")],
)
def test_sign_up_accepts_usernames_within_the_rules_normalised(username: str, stored: str) -> None:
    assert parse_new_account({"username": username, "password": "p" * 8}) == (stored, "p" * 8)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("CaseyAdv", "caseyadv"),
        ("caseyadv", "caseyadv"),
        ("CASEYADV", "caseyadv"),
        (" caseyadv ", "caseyadv"),
        ("\ncaseyadv\n", "caseyadv"),
        ("Ünï", "Ünï"),  # only ASCII is folded: non-ASCII stays (and stays invalid)
        ("\u212aelvin", "\u212aelvin"),  # the Kelvin sign casefolds to k: not folded here
    ],
)
def test_usernames_differing_in_case_or_whitespace_normalise_to_one(
    raw: str, normalised: str
) -> None:
    assert normalize_username(raw) == normalised


def test_case_variants_are_one_account_for_sign_up_and_login() -> None:
    names = ["CaseyAdv", "caseyadv", " CASEYADV "]
    stored = {parse_new_account({"username": n, "password": "p" * 8})[0] for n in names}
    assert stored == {"caseyadv"}
    logins = {parse_login({"username": n, "password": "x"}) for n in names}
    assert logins == {("caseyadv", "x", True)}


@pytest.mark.parametrize("username", ["\u212aelvin", "ſam", "ﬁle", "ab\u0130c"])
def test_non_ascii_that_casefolds_to_ascii_is_still_rejected(username: str) -> None:
    with pytest.raises(ValidationError):
        parse_new_account({"username": username, "password": "p" * 8})
    assert parse_login({"username": username, "password": "x"})[2] is False


def test_the_admin_username_is_normalised_and_must_follow_the_rules() -> None:
    base = {"PORT": "8080", "TOKEN_SECRET": "s" * 40}
    assert load_service_config({**base, "ADMIN_USERNAME": " Admin "}).admin_username == "admin"
    for bad in ("ad", "the admin", "adm\u00efn"):
        with pytest.raises(ServiceConfigError, match="ADMIN_USERNAME"):
            load_service_config({**base, "ADMIN_USERNAME": bad})


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice"},
        {"password": "long-enough"},
        {"username": "ab", "password": "long-enough"},
        {"username": "a" * 65, "password": "long-enough"},
        {"username": "al ice", "password": "long-enough"},
        {"username": "alicé", "password": "long-enough"},
        {"username": "ali\nce", "password": "long-enough"},
        {"username": "  ab  ", "password": "long-enough"},  # 2 characters once trimmed
        {"username": 12345, "password": "long-enough"},
        {"username": "alice", "password": "short"},
        {"username": "alice", "password": "p" * 129},
        {"username": "alice", "password": "nul\x00inside"},
        {"username": "alice", "password": None},
    ],
)
def test_sign_up_rejects_bad_accounts(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_new_account(body)


def test_password_length_bounds_are_inclusive() -> None:
    assert parse_new_account({"username": "bob", "password": "p" * 128})[1] == "p" * 128


@pytest.mark.parametrize(
    ("username", "plausible"),
    [("alice", True), ("ab", False), ("a" * 65, False), ("bad name", False), ("", False)],
)
def test_login_only_queries_usernames_that_could_exist(username: str, plausible: bool) -> None:
    assert is_valid_username(username) is plausible
    assert parse_login({"username": username, "password": "x"}) == (username, "x", plausible)
    shouted = f" {username.upper()} "
    assert parse_login({"username": shouted, "password": "x"}) == (username, "x", plausible)


@pytest.mark.parametrize(
    "body", [{}, {"username": "alice"}, {"username": 1, "password": "x"}, {"password": "x"}]
)
def test_login_rejects_missing_or_non_string_fields(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_login(body)


# --- products ------------------------------------------------------------------------------


def test_product_json_keeps_only_the_contract_fields() -> None:
    row = {"id": 3, "name": "n", "price_cents": 5, "stock": 7, "extra": 1}
    assert product_json(row) == {"id": 3, "name": "n", "price_cents": 5, "stock": 7}


def test_page_defaults_and_bounds() -> None:
    assert parse_page({}) == (20, 0)
    assert parse_page({"limit": "100", "offset": "1000000"}) == (100, 1_000_000)
    assert parse_page({"limit": "1", "offset": "0"}) == (1, 0)


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"offset": "-1"}, {"offset": "1000001"}],
)
def test_page_out_of_bounds_is_invalid(query: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        parse_page(query)


def test_new_product_edges_are_accepted() -> None:
    body = {"name": "n" * 200, "price_cents": 1_000_000_000, "stock": 0}
    assert parse_new_product(body) == ("n" * 200, 1_000_000_000, 0)


@pytest.mark.parametrize(
    "body",
    [
        {"price_cents": 1, "stock": 1},
        {"name": "", "price_cents": 1, "stock": 1},
        {"name": "n" * 201, "price_cents": 1, "stock": 1},
        {"name": "n", "price_cents": -1, "stock": 1},
        {"name": "n", "price_cents": 1_000_000_001, "stock": 1},
        {"name": "n", "price_cents": 1.5, "stock": 1},
        {"name": "n", "price_cents": 1, "stock": True},
        {"name": "n", "price_cents": 1, "stock": "1"},
        {"name": "n", "price_cents": 1},
    ],
)
def test_bad_products_are_invalid(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_new_product(body)


# --- order items ---------------------------------------------------------------------------


def test_items_keep_request_order_and_ignore_other_fields() -> None:
    body = {
        "items": [
            {"product_id": 9, "quantity": 2, "price_cents": 0},
            {"product_id": 3, "quantity": 1000},
        ],
        "status": "confirmed",
        "total_cents": 0,
    }
    assert parse_order_items(body) == [(9, 2), (3, 1000)]


def test_twenty_items_and_the_largest_bigint_id_are_accepted() -> None:
    items = [{"product_id": i, "quantity": 1} for i in range(1, 20)]
    items.append({"product_id": 2**63 - 1, "quantity": 1})
    assert len(parse_order_items({"items": items})) == 20


@pytest.mark.parametrize(
    "items",
    [
        None,
        [],
        "x",
        [{"product_id": i, "quantity": 1} for i in range(1, 22)],
        [1],
        [[1, 1]],
        [{"product_id": "1", "quantity": 1}],
        [{"product_id": True, "quantity": 1}],
        [{"product_id": 1.0, "quantity": 1}],
        [{"quantity": 1}],
        [{"product_id": 1}],
        [{"product_id": 1, "quantity": 0}],
        [{"product_id": 1, "quantity": 1001}],
        [{"product_id": 1, "quantity": True}],
        [{"product_id": 1, "quantity": 1}, {"product_id": 1, "quantity": 2}],
        [{"product_id": 0, "quantity": 1}],
        [{"product_id": -1, "quantity": 1}],
        [{"product_id": 2**63, "quantity": 1}],
    ],
)
def test_bad_items_are_invalid(items: Any) -> None:
    with pytest.raises(ValidationError):
        parse_order_items({"items": items} if items is not None else {})


def test_item_errors_name_the_item() -> None:
    with pytest.raises(ValidationError, match=r"items\[1\]\.quantity"):
        parse_order_items({"items": [{"product_id": 1, "quantity": 1}, {"product_id": 2}]})
    with pytest.raises(ValidationError, match=r"items\[1\]\.product_id 4 is repeated"):
        parse_order_items({"items": [{"product_id": 4, "quantity": 1}] * 2})


def test_order_ids_in_paths_are_uuids_and_malformed_ones_are_not_found() -> None:
    order_id = uuid.uuid4()
    request = make_mocked_request(
        "GET", f"/orders/{order_id}", match_info={"order_id": str(order_id)}
    )
    assert path_order_id(request) == order_id
    for raw in (
        "42",
        "not-a-uuid",
        f"{order_id}0",
        str(order_id).upper(),  # canonical ids only: what POST /orders answered
        order_id.hex,
        f"{{{order_id}}}",
        f"urn:uuid:{order_id}",
        f" {order_id}",
    ):
        request = make_mocked_request("GET", f"/orders/{raw}", match_info={"id": raw})
        with pytest.raises(ApiError) as caught:
            path_order_id(request, "id")
        assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_only_the_canonical_spelling_of_an_order_id_names_it() -> None:
    order_id = uuid.uuid4()
    assert parse_order_id(str(order_id)) == order_id
    assert parse_order_id(str(order_id).upper()) is None
    assert parse_order_id(order_id.hex) is None
    assert parse_order_id("x" * 10_000) is None
