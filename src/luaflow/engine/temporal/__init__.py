"""The Temporal engine: clients, workers, the dynamic Lua workflow and activity, replay."""

from luaflow.engine.temporal._client import (
    ClientSettings,
    client_settings,
    connect,
    register_search_attributes,
)
from luaflow.engine.temporal._errors import from_failure, to_application_error
from luaflow.engine.temporal._headers import CONTEXT_HEADER, SENDER_HEADER
from luaflow.engine.temporal._replay import (
    ReplayResult,
    ReplaySourceError,
    fetch_histories_of_type,
    fetch_history,
    load_history_file,
    replay_histories,
    resolve_workflow_type,
)
from luaflow.engine.temporal._search import typed_search_attributes
from luaflow.engine.temporal._timeskip import TimeSkippingInterceptor
from luaflow.engine.temporal._worker import (
    LuaWorkflow,
    WorkerHost,
    WorkerSettings,
    build_worker,
    code_build_id,
    register_host,
    release_host,
    temporal_retry_policy,
    worker_settings,
    workflow_interceptors,
)

__all__ = [
    "CONTEXT_HEADER",
    "SENDER_HEADER",
    "ClientSettings",
    "LuaWorkflow",
    "ReplayResult",
    "ReplaySourceError",
    "TimeSkippingInterceptor",
    "WorkerHost",
    "WorkerSettings",
    "build_worker",
    "client_settings",
    "code_build_id",
    "connect",
    "fetch_histories_of_type",
    "fetch_history",
    "from_failure",
    "load_history_file",
    "register_host",
    "register_search_attributes",
    "release_host",
    "replay_histories",
    "resolve_workflow_type",
    "temporal_retry_policy",
    "to_application_error",
    "typed_search_attributes",
    "worker_settings",
    "workflow_interceptors",
]
