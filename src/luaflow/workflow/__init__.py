"""The deterministic workflow scheduler and the workflow variants of the Lua modules."""

from luaflow.workflow._commands import (
    CANCEL_TOPIC,
    DEFAULT_START_TO_CLOSE,
    ActivityOptions,
    CancelActivity,
    CancelExternal,
    Command,
    ContinueAsNew,
    Event,
    Message,
    RetryPolicy,
    ScheduleActivity,
    SignalExternal,
    StartChild,
    StartTimer,
    parse_activity_options,
)
from luaflow.workflow._modules import (
    WorkflowModules,
    check_target,
    new_workflow_state,
    resolve_version,
    workflow_id_of,
)
from luaflow.workflow._scheduler import Outcome, Scheduler, WorkflowEnv, WorkflowTaskError

__all__ = [
    "CANCEL_TOPIC",
    "DEFAULT_START_TO_CLOSE",
    "ActivityOptions",
    "CancelActivity",
    "CancelExternal",
    "Command",
    "ContinueAsNew",
    "Event",
    "Message",
    "Outcome",
    "RetryPolicy",
    "ScheduleActivity",
    "Scheduler",
    "SignalExternal",
    "StartChild",
    "StartTimer",
    "WorkflowEnv",
    "WorkflowModules",
    "WorkflowTaskError",
    "check_target",
    "new_workflow_state",
    "parse_activity_options",
    "resolve_version",
    "workflow_id_of",
]
