"""Commands a workflow issues to its engine, the events that answer them, and their options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from luaflow.lua import INVALID, LuaflowError, option_duration

#: Default start-to-close timeout of an activity (SPEC 2.1, B3).
DEFAULT_START_TO_CLOSE = timedelta(minutes=10)
#: Temporal's first retry interval when a policy does not set one.
_DEFAULT_INITIAL_INTERVAL = timedelta(seconds=1)
_CRON_TZ = re.compile(r"(?:CRON_)?TZ=\S+\s+")


@dataclass(frozen=True)
class RetryPolicy:
    """Temporal retry policy fields as Lua code sets them (intervals in ms or Go durations)."""

    initial_interval: timedelta | None = None
    backoff_coefficient: float | None = None
    maximum_interval: timedelta | None = None
    maximum_attempts: int | None = None
    non_retryable_error_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActivityOptions:
    start_to_close_timeout: timedelta | None = DEFAULT_START_TO_CLOSE
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    activity_id: str | None = None
    task_queue: str | None = None
    wait_for_cancellation: bool = False
    disable_eager_execution: bool = False
    retry_policy: RetryPolicy | None = None


@dataclass
class Command:
    """Something only the engine can do; the task that issued it waits for its Event."""

    site: str  # Lua call site, "file.lua:12"
    id: int = field(default=0, init=False)


@dataclass
class ScheduleActivity(Command):
    activity_type: str = ""
    args: list[Any] = field(default_factory=list)
    options: ActivityOptions = field(default_factory=ActivityOptions)
    #: Context for the activity when an executor added values (`with_context`).
    context: dict[str, Any] | None = None


@dataclass
class StartChild(Command):
    """A child workflow. `wait`: the event carries its result (`workflow.exec`); otherwise the
    event carries its workflow id once started and `exit_event_id` later reports its exit."""

    workflow_type: str = ""
    task_queue: str = ""
    args: list[Any] = field(default_factory=list)
    wait: bool = True
    exit_event_id: int = 0


@dataclass
class CancelExternal(Command):
    """`process.cancel`/`terminate` from a workflow: a cancel request to another workflow; its
    `pid.cancel` event carries `reason`."""

    workflow_id: str = ""
    reason: str = ""


#: Reply addresses of Temporal updates start with this (B5b); replies never leave the run.
UPDATE_ADDRESS = "@update:"


@dataclass
class ReplyUpdate(Command):
    """`process.send(msg:from(), "ack"|"nak"|"ok"|"error", ...)` to an update's reply address."""

    address: str = ""
    topic: str = ""
    args: list[Any] = field(default_factory=list)


@dataclass
class ContinueAsNew(Command):
    """`process.upgrade(id|nil, ...)`: end this run and start a fresh one with new arguments."""

    workflow_type: str | None = None
    args: list[Any] = field(default_factory=list)


@dataclass
class CancelActivity(Command):
    """Request cancellation of a running activity (`future:cancel()`); no event answers it."""

    activity_command_id: int = 0


@dataclass
class StartTimer(Command):
    duration: timedelta = timedelta(0)


@dataclass
class SignalExternal(Command):
    """`process.send` to another workflow: a Temporal signal carrying the sender's PID."""

    workflow_id: str = ""
    topic: str = ""
    args: list[Any] = field(default_factory=list)


#: Topic of the message that tells the scheduler its workflow was asked to cancel (R5).
CANCEL_TOPIC = "@cancel"

#: Host PIDs are `{luaflow@<node>|<n>}`; a node is one luaflow process (host name, OS pid).
_HOST_PID_PREFIX = "{luaflow@"
#: The activity that puts a workflow's message into a host process's mailbox. It runs on the
#: node's own task queue, so only the luaflow process owning the PID can execute it.
DELIVER_ACTIVITY = "luaflow.deliver"
#: The local activity a workflow worker runs for a message to a host PID: it delivers the
#: message when the PID belongs to the worker's own node, and says whether it did.
DELIVER_HERE_ACTIVITY = "luaflow.deliver-here"


@dataclass
class DeliverHere(Command):
    """A message to a host process, tried first as a local activity of the worker running the
    task (no task queue between them); its event's value is False when the PID is elsewhere."""

    args: list[Any] = field(default_factory=list)  # dest, topic, values, sender


def host_pid(node: str, number: int) -> str:
    return f"{_HOST_PID_PREFIX}{node}|{number}}}"


def node_of(pid: str) -> str | None:
    """The node of a host PID, None for anything else (workflow PIDs, bare ids)."""
    if pid.startswith(_HOST_PID_PREFIX) and pid.endswith("}") and "|" in pid:
        return pid[len(_HOST_PID_PREFIX) : pid.index("|")]
    return None


def node_queue(node: str) -> str:
    """The task queue a node's delivery worker polls (the client's tq_prefix goes in front)."""
    return f"luaflow.node.{node}"


@dataclass(frozen=True)
class Message:
    """A message arriving from outside (a Temporal signal or update): topic, one value per
    payload, the sender's PID ("" when unknown) and, for updates, where replies go."""

    topic: str
    payloads: list[Any]
    sender: str = ""


@dataclass(frozen=True)
class Event:
    """The outcome of a command: a value, or an error."""

    command_id: int
    value: Any = None
    error: LuaflowError | None = None


_DURATION_KEYS = {
    "start_to_close_timeout",
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "heartbeat_timeout",
}
_BOOL_KEYS = {"wait_for_cancellation", "disable_eager_execution"}
_STR_KEYS = {"id": "activity_id", "task_queue": "task_queue"}


def _invalid(message: str) -> LuaflowError:
    return LuaflowError(message, INVALID, False)


def parse_activity_options(options: Mapping[str, Any]) -> ActivityOptions:
    """Validate `funcs` executor options (keys `activity.*`, also `temporal.activity.*`).

    Unknown keys are ignored as the reference runtime does for non-Temporal executors; a known key
    with a bad value is an `Invalid` error naming the key.
    """
    values: dict[str, Any] = {}
    for raw_key, value in options.items():
        key = raw_key.removeprefix("temporal.")
        if not key.startswith("activity."):
            continue
        name = key.removeprefix("activity.")
        if name in _DURATION_KEYS:
            values[name] = option_duration(value, raw_key)
            if not values[name]:  # Temporal reads 0 as unset: the activity could never run
                raise _invalid(f"option {raw_key}: must be a positive duration, got {value!r}")
        elif name in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise _invalid(f"option {raw_key}: expected a boolean, got {value!r}")
            values[name] = value
        elif name in _STR_KEYS:
            if not isinstance(value, str) or not value:
                raise _invalid(f"option {raw_key}: expected a non-empty string, got {value!r}")
            values[_STR_KEYS[name]] = value
        elif name == "retry_policy":
            values["retry_policy"] = parse_retry_policy(value, raw_key)
        else:
            raise _invalid(f"option {raw_key}: unknown activity option")
    return ActivityOptions(**values)


def parse_retry_policy(value: Any, key: str) -> RetryPolicy:
    """A retry policy table; intervals are milliseconds or Go duration strings."""
    if not isinstance(value, Mapping):
        raise _invalid(f"option {key}: expected a table")
    out: dict[str, Any] = {}
    for name, item in value.items():
        path = f"{key}.{name}"
        if name in ("initial_interval", "maximum_interval"):
            out[name] = option_duration(item, path)
        elif name == "backoff_coefficient":
            if isinstance(item, bool) or not isinstance(item, int | float) or item < 1:
                raise _invalid(f"option {path}: expected a number >= 1, got {item!r}")
            out[name] = float(item)
        elif name == "maximum_attempts":
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                raise _invalid(f"option {path}: expected an integer >= 0, got {item!r}")
            out[name] = item
        elif name == "non_retryable_error_types":
            if not isinstance(item, list) or not all(isinstance(x, str) for x in item):
                raise _invalid(f"option {path}: expected a list of error kinds")
            out[name] = tuple(item)
        else:
            raise _invalid(f"option {path}: unknown retry policy field")
    initial = out.get("initial_interval") or _DEFAULT_INITIAL_INTERVAL
    if out.get("maximum_interval") and out["maximum_interval"] < initial:
        raise _invalid(
            f"option {key}.maximum_interval: must not be less than initial_interval "
            f"({initial.total_seconds():g}s), got {value['maximum_interval']!r}"
        )
    return RetryPolicy(**out)


def parse_cron_schedule(value: Any, key: str) -> str:
    """A workflow's cron schedule as Temporal reads it: five fields, a descriptor (`@daily`) or
    `@every <duration>`, optionally after `CRON_TZ=<zone>`; anything else is `Invalid` here
    rather than a server error after the start."""
    if not isinstance(value, str):
        raise _invalid(f"option {key}: expected a cron expression string, got {value!r}")
    spec = value.strip()
    if match := _CRON_TZ.match(spec):
        spec = spec[match.end() :]
    if spec.startswith("@every "):
        option_duration(spec.removeprefix("@every ").strip(), key)
        return value
    from croniter import croniter  # only cron starts need it, not every command's start-up

    if not (croniter.is_valid(spec) and (spec.startswith("@") or len(spec.split()) == 5)):
        raise _invalid(
            f"option {key}: invalid cron schedule {value!r} (expected 5 fields like "
            "'0 12 * * MON-FRI', a descriptor like '@daily', or '@every 1h')"
        )
    return value
