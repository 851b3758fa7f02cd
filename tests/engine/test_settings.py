"""temporal.client / temporal.worker entries mapped onto the Python SDK (B8), no server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from luaflow.engine.temporal import client_settings, worker_settings
from luaflow.registry import RegistryError, load_registry


def _app(tmp_path: Path, client: str, worker: str = "") -> Path:
    (tmp_path / "_index.yaml").write_text(
        f"""version: "1.0"
namespace: app
entries:
  - name: client
    kind: temporal.client
{client}
  - name: worker
    kind: temporal.worker
    client: client
    task_queue: q
{worker}
"""
    )
    return tmp_path


def test_embedded_and_api_key(tmp_path: Path) -> None:
    registry = load_registry(
        _app(
            tmp_path,
            """    address: cloud.example:7233
    namespace: prod
    tq_prefix: "dev-"
    auth: {type: api_key, api_key: "${env:KEY}"}
    tls: {insecure_skip_verify: true}
    health_check: {enabled: true}""",
        ),
        {"KEY": "secret"},
    )
    settings = client_settings(registry.get("app:client"))
    assert (settings.address, settings.namespace, settings.tq_prefix) == (
        "cloud.example:7233",
        "prod",
        "dev-",
    )
    assert settings.api_key == "secret" and settings.tls is not None
    assert not settings.embedded
    assert settings.ignored == ("tls.insecure_skip_verify", "health_check")
    registry = load_registry(_app(tmp_path, "    namespace: default"), {})
    assert client_settings(registry.get("app:client")).embedded


def test_mtls_missing_file_names_field(tmp_path: Path) -> None:
    registry = load_registry(
        _app(tmp_path, "    auth: {type: mtls, cert_file: nope.pem, key_file: nope.key}"), {}
    )
    with pytest.raises(RegistryError, match=r"entry app:client: field auth.cert_file: cannot read"):
        client_settings(registry.get("app:client"))


def test_worker_options_map_and_report(tmp_path: Path) -> None:
    worker = """    worker_options:
      max_concurrent_activity_execution_size: 10
      sticky_schedule_to_start_timeout: "5s"
      worker_activities_per_second: 0
      enable_session_worker: true
      identity: w1"""
    registry = load_registry(_app(tmp_path, "    address: embedded", worker), {})
    settings = worker_settings(registry.get("app:worker"))
    assert settings.kwargs == {
        "max_concurrent_activities": 10,
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=5),
        "identity": "w1",
    }
    assert settings.ignored == ["enable_session_worker"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("max_concurrent_workflow_task_pollers: many", "worker_options.max_concurrent_workflow"),
        ("worker_stop_timeout: soon", "worker_options.worker_stop_timeout"),
        ("no_such_option: 1", "worker_options.no_such_option: unknown worker option"),
    ],
)
def test_bad_worker_option_names_it(tmp_path: Path, option: str, message: str) -> None:
    worker = f"    worker_options:\n      {option}"
    registry = load_registry(_app(tmp_path, "    address: embedded", worker), {})
    with pytest.raises(RegistryError, match=message):
        worker_settings(registry.get("app:worker"))
