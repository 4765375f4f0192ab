"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): no request makes
the service answer 5xx, and every error has the `{detail, hint, error_id}` shape."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from generator_service.api import ServiceSettings, create_app  # noqa: E402
from generator_service.jobs.holder import ModelHolder  # noqa: E402
from generator_service.jobs.service import JobService  # noqa: E402

EXAMPLES_PER_OPERATION = 40  # 9 operations -> a few hundred requests


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, tiny):
    work = tmp_path_factory.mktemp("fuzz-work")
    media = tmp_path_factory.mktemp("fuzz-media")
    settings = ServiceSettings(work_dir=work, model="tiny", device="cpu", media_root=media, max_upload_mb=1)
    service = JobService(work, ModelHolder(lambda: tiny, model_id="tiny", device="cpu"))
    app = create_app(settings, service)
    service.start()
    yield app
    service.stop()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, headers={"Host": "127.0.0.1"})


def check_response(case, seen: list) -> None:
    response = case.call(headers={"Host": "127.0.0.1"})
    seen.append((case.method, case.path, response.status_code))
    assert response.status_code < 500, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail", "hint", "error_id"} and isinstance(body["detail"], str), body


# schemathesis' own pytest plugin does not run under pytest 9, so each operation's strategy is
# driven with hypothesis directly.
@pytest.mark.slow
def test_no_request_makes_the_service_fail(fuzz_schema) -> None:
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) >= 9
    seen: list = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case) -> None:
            check_response(case, seen)

        fuzz()
    assert len(seen) >= 200, len(seen)  # a few hundred requests in all
    print(f"{len(seen)} requests, statuses {sorted({s for *_, s in seen})}")
