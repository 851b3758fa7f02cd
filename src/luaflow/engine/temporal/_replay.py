"""Replay recorded workflow histories against an app's current Lua code (a determinism gate).

Histories come from files (`temporal workflow show -o json`, `WorkflowHistory.to_json()`) or from
the server (by workflow id, or the latest runs of a workflow type). Each one is replayed offline
by a `Replayer` serving `LuaWorkflow`: no worker polls and nothing changes on the server. A
replay that diverges is explained in terms of the workflow: which step, what the history recorded
(with the Lua call site kept in the event's summary) and what the current code does instead.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from luaflow.engine.temporal._worker import (
    LuaWorkflow,
    WorkerHost,
    register_host,
    release_host,
    workflow_interceptors,
)

if TYPE_CHECKING:
    from luaflow.app import App

__all__ = [
    "ReplayResult",
    "ReplaySourceError",
    "fetch_histories_of_type",
    "fetch_history",
    "load_history_file",
    "replay_histories",
    "resolve_workflow_type",
]


@dataclass
class ReplayResult:
    """The outcome of replaying one history: `explanation` says why it failed (or what passed)."""

    workflow_id: str
    ok: bool
    explanation: str


class ReplaySourceError(Exception):
    """A history could not be loaded (a bad file, an unknown workflow id, a failed listing)."""


# -- sources ------------------------------------------------------------------------------------


def load_history_file(path: Path | str, workflow_id: str | None = None) -> WorkflowHistory:
    """Read a history exported by `temporal workflow show -o json` or `WorkflowHistory.to_json()`.

    The workflow id is `workflow_id`, else the one recorded in the start event, else the file stem.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        history = WorkflowHistory.from_json(workflow_id or path.stem, data)
    except OSError as exc:
        raise ReplaySourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # JSON or protobuf parse errors have no common base
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReplaySourceError(f"{path}: not a workflow history in JSON: {reason}") from None
    problem = _not_a_history(history)
    if problem:
        raise ReplaySourceError(f"{path}: not a workflow history: {problem}")
    if workflow_id is None:
        recorded = history.events[0].workflow_execution_started_event_attributes.workflow_id
        if recorded:
            history = WorkflowHistory(recorded, history.events)
    return history


async def fetch_history(
    client: Client, workflow_id: str, run_id: str | None = None
) -> WorkflowHistory:
    """The history of a workflow (its latest run unless `run_id`) from the server."""
    try:
        return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    except RPCError as exc:
        raise ReplaySourceError(f"workflow {workflow_id}: {exc.message}") from None


async def fetch_histories_of_type(
    client: Client, workflow_type: str, limit: int = 20
) -> list[WorkflowHistory]:
    """Histories of the `limit` most recent runs (closed and running) of a workflow type."""
    query = f'WorkflowType="{workflow_type}"'
    histories: list[WorkflowHistory] = []
    try:
        async for execution in client.list_workflows(query, limit=limit):
            histories.append(await fetch_history(client, execution.id, execution.run_id))
    except RPCError as exc:
        raise ReplaySourceError(f"listing runs of {workflow_type}: {exc.message}") from None
    return histories


def resolve_workflow_type(app: App, name: str) -> str:
    """A `workflow.lua` entry id becomes its Temporal workflow type; anything else is a type."""
    from luaflow.app import workflow_type

    entry = app.registry.find(name)
    if entry is not None and entry.kind == "workflow.lua":
        return workflow_type(entry)
    return name


# -- replay -------------------------------------------------------------------------------------


async def replay_histories(app: App, histories: Sequence[WorkflowHistory]) -> list[ReplayResult]:
    """Replay each history against the app's current code; one result per history, in order.

    Each history is replayed by the `temporal.worker` entry that serves its workflow type (the one
    on the history's task queue if several do). The worker is registered under a private replay
    task queue, so this also works in a process whose workers are running.
    """
    hosts = [app.worker_host(w) for w in app.registry.by_kind("temporal.worker")]
    results: list[ReplayResult | None] = [None] * len(histories)
    groups: dict[int, list[int]] = {}
    for index, history in enumerate(histories):
        problem = _not_a_history(history)
        if problem:
            reason = f"workflow {history.workflow_id}: not a workflow history: {problem}"
            results[index] = ReplayResult(history.workflow_id, False, reason)
            continue
        started = history.events[0].workflow_execution_started_event_attributes
        type_name = started.workflow_type.name
        host_index = _host_for(hosts, type_name, started.task_queue.name)
        if host_index is None:
            served = sorted({t for h in hosts for t in h.workflows})
            results[index] = ReplayResult(
                history.workflow_id,
                False,
                f'workflow {history.workflow_id}: workflow type "{type_name}" is not served by '
                f"any temporal.worker of the app (served: {', '.join(served) or 'none'})",
            )
            continue
        groups.setdefault(host_index, []).append(index)
    for host_index, indices in groups.items():
        for index, result in zip(
            indices,
            await _replay_group(hosts[host_index], [histories[i] for i in indices]),
            strict=True,
        ):
            results[index] = result
    return [r for r in results if r is not None]


def _host_for(hosts: Sequence[WorkerHost], type_name: str, task_queue: str) -> int | None:
    candidates = [i for i, host in enumerate(hosts) if type_name in host.workflows]
    for i in candidates:
        if hosts[i].task_queue == task_queue:
            return i
    return candidates[0] if candidates else None


async def _replay_group(
    host: WorkerHost, histories: Sequence[WorkflowHistory]
) -> list[ReplayResult]:
    build_id = f"luaflow-replay-{uuid.uuid4().hex}"
    # The Replayer's workflows run on task queue "replay-<build id>": serve exactly that one.
    replay_host = dataclasses.replace(host, task_queue=f"replay-{build_id}")
    recorder = _Recorder()
    replayer = Replayer(
        workflows=[LuaWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
        namespace=host.namespace,
        build_id=build_id,
        interceptors=[*workflow_interceptors(), recorder],
        runtime=_quiet_runtime(),
    )

    async def feed() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            recorder.reset()
            yield history

    results: list[ReplayResult] = []
    register_host(replay_host)
    try:
        async with replayer.workflow_replay_iterator(feed()) as replays:
            async for replay in replays:
                history = replay.history
                if replay.replay_failure is None:
                    results.append(
                        ReplayResult(
                            history.workflow_id, True, f"{len(history.events)} events replayed"
                        )
                    )
                else:
                    text = _explain(history, replay.replay_failure, recorder)
                    results.append(ReplayResult(history.workflow_id, False, text))
    except Exception as exc:  # the replay worker itself failed: report, do not lose the others
        for history in histories[len(results) :]:
            results.append(ReplayResult(history.workflow_id, False, f"replay could not run: {exc}"))
    finally:
        release_host(replay_host)
    return results


@functools.cache
def _quiet_runtime() -> Runtime:
    """A runtime whose core does not log each failed replay task as a warning on stderr (the
    explanation says it better)."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


def _not_a_history(history: WorkflowHistory) -> str | None:
    if not history.events:
        return "no events"
    first = history.events[0]
    if first.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return f"the first event is {_event_name(first.event_type)}, not WorkflowExecutionStarted"
    return None


# -- what the current code did ------------------------------------------------------------------


@dataclass
class _Recorder(Interceptor):
    """Records the activities the replayed code schedules (with their Lua call sites) and how the
    workflow ended, so a mismatch can show what the current code does instead."""

    activities: list[tuple[str, str | None]] = field(default_factory=list)
    failure: str | None = None

    def reset(self) -> None:
        self.activities = []
        self.failure = None

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        recorder = self

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
                recorder.activities.append((input.activity, input.summary))
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                try:
                    return await super().execute_workflow(input)
                except Exception as exc:
                    recorder.failure = str(exc)
                    raise

        return Inbound


# -- explanations -------------------------------------------------------------------------------

_CORE_MESSAGE = re.compile(r'message: "(.*?)", source: "', re.DOTALL)
_ACTIVITY_TYPE = re.compile(
    r"Activity type of scheduled event '([^']*)' does not match "
    r"activity type of activity command '([^']*)'"
)
_ACTIVITY_ID = re.compile(
    r"Activity id of scheduled event '([^']*)' does not match activity id of activity command "
    r"'([^']*)'"
)
_EVENT = re.compile(r"HistoryEvent\(id: (\d+)(?:, ([A-Za-z]+))?\)")
_MACHINE = re.compile(r"([A-Z][A-Za-z ]*?) machine does not handle this event")
_NO_COMMAND = "No command scheduled for event"

#: Events recorded for a command of the workflow: the "steps" a replay must reproduce in order.
_STEP_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
        EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)

_MACHINE_COMMANDS = {
    "Timer": "a timer (time.sleep)",
    "Complete workflow": "the workflow completes here",
    "Continue as new workflow": "the workflow continues as new here",
    "Cancel workflow": "the workflow is cancelled here",
    "Child workflow": "a child workflow",
    "Signal external": "a signal to another workflow",
    "Cancel external": "a cancellation of another workflow",
    "Upsert search attributes": "a search-attribute update",
    "Local activity": "a local activity",
}


def _explain(history: WorkflowHistory, failure: Exception, recorder: _Recorder) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    core = _core_message(str(failure))
    head = (
        f"workflow {history.workflow_id} (type {started.workflow_type.name}, run {history.run_id})"
    )
    if "nondeterminism" not in core.lower():
        return f"{head} could not be replayed: {core}"
    scheduled = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    event: HistoryEvent | None = None
    event_label = ""
    got = "something else"
    if match := _ACTIVITY_TYPE.search(core):
        expected_type, got_type = match.groups()
        k = _first_difference(
            [_activity_type(e) for e in scheduled], [a for a, _ in recorder.activities]
        )
        if k < len(scheduled) and _activity_type(scheduled[k]) == expected_type:
            event = scheduled[k]
        else:
            event = next((e for e in scheduled if _activity_type(e) == expected_type), None)
        site = None
        if k < len(recorder.activities) and recorder.activities[k][0] == got_type:
            site = recorder.activities[k][1]
        got = f"activity {got_type}" + (f", called at {site}" if site else "")
    elif match := _ACTIVITY_ID.search(core):
        expected_id, got_id = match.groups()
        event = next(
            (
                e
                for e in scheduled
                if e.activity_task_scheduled_event_attributes.activity_id == expected_id
            ),
            None,
        )
        got = f"an activity with id {got_id!r} (the history has id {expected_id!r})"
    elif match := _EVENT.search(core):
        event_id = int(match.group(1))
        event = next((e for e in history.events if e.event_id == event_id), None)
        event_label = f"event {event_id}" + (f", {match.group(2)}" if match.group(2) else "")
        machine = _MACHINE.search(core)
        if _NO_COMMAND in core:
            got = "nothing: the current code schedules no step here"
        elif machine is not None:
            got = _got_from_machine(machine.group(1), event_id, scheduled, recorder)
    lines = [f"{head} does not replay on the current code"]
    if event is not None:
        lines.append(f"{_step_label(history, event)} differs:")
        lines.append(f"  expected (history):  {_describe(event)}")
        lines.append(f"  got (current code):  {got}")
    elif event_label:
        lines.append(f"{event_label} differs; got (current code): {got}")
    lines.append(f"SDK: {core}")
    return "\n".join(lines)


def _core_message(text: str) -> str:
    """The core's sentence out of the `Workflow activation completion failed: Failure {...}`
    envelope the Python SDK wraps it in."""
    match = _CORE_MESSAGE.search(text)
    return match.group(1).replace('\\"', '"') if match else text


def _got_from_machine(
    machine: str, event_id: int, scheduled: Sequence[HistoryEvent], recorder: _Recorder
) -> str:
    if machine == "Activity":
        # Every activity scheduled before the mismatch matched; the next one recorded is it.
        k = sum(1 for e in scheduled if e.event_id < event_id)
        if k < len(recorder.activities):
            name, site = recorder.activities[k]
            return f"activity {name}" + (f", called at {site}" if site else "")
        return "an activity (funcs.call)"
    if machine == "Fail workflow":
        return "the workflow fails here" + (f": {recorder.failure}" if recorder.failure else "")
    return _MACHINE_COMMANDS.get(machine, f"a {machine.lower()} command")


def _first_difference(recorded: Sequence[str], current: Sequence[str]) -> int:
    for k, (a, b) in enumerate(zip(recorded, current, strict=False)):
        if a != b:
            return k
    return min(len(recorded), len(current))


def _activity_type(event: HistoryEvent) -> str:
    return event.activity_task_scheduled_event_attributes.activity_type.name


def _step_label(history: WorkflowHistory, event: HistoryEvent) -> str:
    where = f"event {event.event_id}, {_event_name(event.event_type)}"
    if event.event_type not in _STEP_EVENTS:
        return where[0].upper() + where[1:]
    step = 1 + sum(
        1 for e in history.events if e.event_type in _STEP_EVENTS and e.event_id < event.event_id
    )
    return f"step {step} ({where})"


def _describe(event: HistoryEvent) -> str:
    """What the history recorded at `event`, with the Lua call site kept in its summary."""
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        text = f"activity {_activity_type(event)}"
    elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
        timeout = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        text = f"timer {_duration(timeout)} (time.sleep)"
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        text = "the workflow completes here"
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        message = event.workflow_execution_failed_event_attributes.failure.message
        text = "the workflow fails here" + (f": {message}" if message else "")
    else:
        text = _event_name(kind)
    site = _summary(event)
    return text + (f", recorded at {site}" if site else "")


def _summary(event: HistoryEvent) -> str | None:
    if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
        return None
    try:
        value = PayloadConverter.default.from_payload(event.user_metadata.summary, str)
    except Exception:  # a summary written by other tools need not be a JSON string
        return None
    return str(value) if value else None


def _event_name(kind: int) -> str:
    """`EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` -> `ActivityTaskScheduled` (the core's spelling)."""
    try:
        name = EventType.Name(kind)  # type: ignore[arg-type]
    except ValueError:
        return f"event type {kind}"
    return "".join(part.capitalize() for part in name.removeprefix("EVENT_TYPE_").split("_"))


def _duration(value: timedelta) -> str:
    ms = round(value.total_seconds() * 1000)
    if ms < 1000:
        return f"{ms}ms"
    seconds, ms = divmod(ms, 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{seconds}.{ms:03d}".rstrip("0").rstrip(".") + "s" if seconds or ms else "")
    return "".join(parts)
