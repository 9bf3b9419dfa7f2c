"""The shared rules of tests/conftest.py: the Docker skip rule and the directory marks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import conftest  # tests/conftest.py: pytest put tests/ on sys.path to load it
import pytest


@dataclass
class FakeItem:
    """What the hooks read of a collected test: its path and markers."""

    path: Path
    marks: list[str] = field(default_factory=list)

    def get_closest_marker(self, name: str) -> str | None:
        return name if name in self.marks else None

    def add_marker(self, name: str) -> None:
        self.marks.append(name)


def _no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "_engine_problem", ["no Docker engine answers (X: refused)"])


@pytest.mark.parametrize("mark", ["needs_docker", "docker"])
def test_a_docker_test_skips_without_an_engine_and_fails_when_one_is_required(
    monkeypatch: pytest.MonkeyPatch, mark: str
) -> None:
    _no_engine(monkeypatch)
    item = FakeItem(conftest.TESTS / "e2e" / "test_x.py", [mark])
    monkeypatch.delenv("BENCH_REQUIRE_DOCKER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="set BENCH_REQUIRE_DOCKER=1"):
        conftest.pytest_runtest_setup(item)  # type: ignore[arg-type]
    monkeypatch.setenv("BENCH_REQUIRE_DOCKER", "1")
    with pytest.raises(pytest.fail.Exception, match="BENCH_REQUIRE_DOCKER is set but no Docker"):
        conftest.pytest_runtest_setup(item)  # type: ignore[arg-type]


def test_other_tests_and_an_answering_engine_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_engine(monkeypatch)
    conftest.pytest_runtest_setup(FakeItem(conftest.TESTS / "unit" / "test_x.py"))  # type: ignore[arg-type]
    monkeypatch.setattr(conftest, "_engine_problem", [None])
    conftest.pytest_runtest_setup(FakeItem(conftest.TESTS / "e2e" / "x.py", ["needs_docker"]))  # type: ignore[arg-type]


def test_contract_and_e2e_tests_are_marked_by_their_directory() -> None:
    items = [FakeItem(conftest.TESTS / d / "test_x.py") for d in ("contract", "e2e", "unit")]
    items.append(FakeItem(conftest.TESTS / "e2e" / "test_y.py", ["e2e"]))
    conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.marks for item in items] == [["needs_postgres"], ["e2e"], [], ["e2e"]]
