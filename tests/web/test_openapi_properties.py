"""Property-based requests generated from the app's own OpenAPI document find no server error.

Every operation gets 25 generated requests that fit its schema; every operation with a body
25 more that break it. They go out with a good API key, on SQLite and on PostgreSQL (whose
text columns refuse NUL bytes). Answers to fitting requests must also match the document:
documented status codes, content types and bodies.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mailengine.store.database import Database
from tests.web.conftest import AUTH, AppFactory

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_generated_requests_get_no_server_error(make_app: AppFactory, database: Database) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", make_app(double_opt_in=True))
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the OpenAPI document has invalid operations"
    with_body = {operation.label for operation in operations if len(operation.body)}
    assert len(operations) == 25 and with_body == {
        "POST /v1/customers", "POST /v1/orders", "POST /v1/events", "POST /v1/events:batch",
        "POST /v1/orders:batch",
        "POST /v1/broadcasts",
        "POST /u/{token}", "POST /preferences/{token}", "POST /poll/{poll}/{answer}/{mail}/{token}",
    }  # fmt: skip
    tried: dict[tuple[str, GenerationMode], int] = {}
    for operation in operations:
        exercise(operation, GenerationMode.POSITIVE, tried)
        if operation.label in with_body:  # a free-text path value cannot be made wrong
            exercise(operation, GenerationMode.NEGATIVE, tried)
    assert all(tried[(label, GenerationMode.NEGATIVE)] >= 20 for label in with_body), tried
    assert all(tried[(label, GenerationMode.POSITIVE)] >= 20 for label in with_body), tried


def exercise(operation: Any, mode: GenerationMode, tried: dict[Any, int]) -> None:
    """Send up to 25 generated requests for one operation and check each answer."""
    checks = CONFORMANCE if mode is GenerationMode.POSITIVE else [not_a_server_error]
    key = (operation.label, mode)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def request(case: Any) -> None:
        response = case.call(headers=AUTH)
        case.validate_response(response, checks=checks)
        tried[key] = tried.get(key, 0) + 1

    request()
