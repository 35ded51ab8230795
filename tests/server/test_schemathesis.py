"""Schemathesis explores the OpenAPI schema: no input makes the API fail with a 5xx, and every
answer matches the schema it documents."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.server.seed import SERVER_TOKEN, seed, store_settings

from c2tracker.server import create_app
from c2tracker.settings import Settings
from c2tracker.store import Store


def make_app(tmp: Path) -> FastAPI:
    url = f"sqlite:///{tmp / 'store.sqlite'}"
    store = Store.open(url, settings=store_settings(url))
    seed(store)
    (tmp / "feeds").mkdir()
    settings = Settings(db=url, feeds_dir=tmp / "feeds", server_token=SERVER_TOKEN)
    return create_app(settings, store, tmp / "feeds", rules=[], job=lambda: None)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    app = make_app(tmp)
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    shutil.rmtree(tmp, ignore_errors=True)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.slow
def test_api_never_fails_and_matches_its_schema(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def explore(case: Any) -> None:
            # With the operator token, operator routes get past auth into their real logic.
            case.call_and_validate(
                headers={"Authorization": f"Bearer {SERVER_TOKEN}"}, checks=CHECKS
            )

        explore()
