"""Temporal side of a `temporal.worker` entry: one dynamic workflow, one dynamic activity.

Every `workflow.lua` entry bound to the worker is served by `LuaWorkflow` (looked up by workflow
type), every activity entry by `ActivityHost.run` (looked up by activity type). The workflow loop
drives the shared scheduler: commands become SDK awaitables, their completions become events,
and the SDK's replay gives durability and non-determinism detection.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker

from luaflow import __version__
from luaflow.engine._programs import (
    Programs,
    meta_worker,
    task_queue_of,
    worker_for_queue,
    workflow_type,
)
from luaflow.engine.temporal._errors import from_failure, to_application_error
from luaflow.engine.temporal._headers import HeaderInterceptor, activity_context
from luaflow.engine.temporal._search import search_attribute_update
from luaflow.lua import (
    NOT_FOUND,
    LuaflowError,
    ValueConversionError,
    bounded_error,
    check_incoming,
    check_payload,
    parse_go_duration,
)
from luaflow.registry import Entry, Registry
from luaflow.workflow import (
    CANCEL_TOPIC,
    DELIVER_HERE_ACTIVITY,
    UPDATE_ADDRESS,
    CancelActivity,
    CancelExternal,
    Command,
    DeliverHere,
    Event,
    Journal,
    Message,
    ReplyUpdate,
    RetryPolicy,
    ScheduleActivity,
    SignalExternal,
    StartChild,
    StartTimer,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A local delivery only puts a message into a mailbox; past this it counts as failed.
_DELIVER_HERE_TIMEOUT = timedelta(seconds=10)
#: A run that waits only for messages, child workflows and timers at least this far away drops
#: its Lua state until its next event (Journal.hibernate): holding it would cost memory for
#: nothing. Activities and the like are expected back any moment.
HIBERNATE_AFTER = timedelta(seconds=10)
#: When a child workflow is expected to end: unknown, so as a timer far away.
_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass
class WorkerHost:
    """What one `temporal.worker` entry serves, found by the dynamic workflow through its queue."""

    worker_id: str
    client_id: str
    namespace: str
    task_queue: str  # with the client's tq_prefix applied
    tq_prefix: str
    programs: Programs
    workflows: dict[str, Entry] = field(default_factory=dict)  # workflow type -> entry
    search_types: dict[str, str] = field(default_factory=dict)  # declared search attributes
    activities: dict[str, Entry] = field(default_factory=dict)  # activity type -> entry
    #: Puts a workflow's message into a host process of this worker's node, or says it cannot
    #: (the PID lives elsewhere); None when nothing here runs host processes.
    deliver_local: Callable[[str, str, list[Any], str], Awaitable[bool]] | None = None

    @activity.defn(name=DELIVER_HERE_ACTIVITY)
    async def deliver_here(self, dest: str, topic: str, args: list[Any], sender: str) -> bool:
        """A message to a host PID, tried as a local activity of the run's own task: when the
        PID is on this node it arrives without a task queue in between (DeliverHere)."""
        if self.deliver_local is None:
            return False
        return await self.deliver_local(dest, topic, args, sender)

    @activity.defn(dynamic=True)
    def run_activity(self, args: Sequence[RawValue]) -> Any:
        """Run an activity entry's Lua function in a fresh state (a thread of the executor)."""
        name = activity.info().activity_type
        entry = self.activities.get(name)
        if entry is None:
            raise ApplicationError(
                f'activity "{name}" is not registered on worker {self.worker_id} '
                f"(task queue {self.task_queue})",
                type=NOT_FOUND,
                non_retryable=False,
            )
        try:
            values = incoming(activity.payload_converter(), args, f"the input of activity {name}")
            result = self.programs.call(entry, values, activity_context())
            check_payload(result, f"the result of activity {name}")
        except LuaflowError as err:
            raise to_application_error(bounded_error(err)) from None
        return result


def incoming(converter: PayloadConverter, args: Sequence[RawValue], what: str) -> list[Any]:
    """Payloads from outside the run (signals, updates, inputs: the `temporal` CLI, other SDKs):
    each must decode and be able to enter Lua, or the message is refused with the reason."""
    values = []
    for i, arg in enumerate(args, 1):
        try:
            value = converter.from_payload(arg.payload)
        except Exception as exc:  # unknown encoding, bad JSON, nesting Python cannot parse
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueConversionError(
                f"{what}: payload {i} cannot be decoded ({reason})"
            ) from None
        check_incoming(value, f"{what}: payload {i}")
        values.append(value)
    return values


_HOSTS: dict[tuple[str, str], WorkerHost] = {}


def _host() -> WorkerHost:
    """The host serving this run: by task queue, or (in a Replayer, whose queue is synthetic)
    the host registering the workflow type."""
    info = workflow.info()
    host = _HOSTS.get((info.namespace, info.task_queue))
    if host is not None:
        return host
    candidates = [h for h in _HOSTS.values() if info.workflow_type in h.workflows]
    if len(candidates) == 1:
        return candidates[0]
    raise RuntimeError(f"no luaflow worker serves task queue {info.task_queue}")


class _TemporalEnv:
    """The replay-safe reads of a workflow, answered by the SDK."""

    def __init__(self, host: WorkerHost) -> None:
        self._host = host

    def pid(self) -> str:
        return f"{{{self._host.client_id}@{self._host.worker_id}|{workflow.info().workflow_id}}}"

    def random_bytes(self, n: int) -> bytes:
        return workflow.random().randbytes(n)

    def patched(self, patch_id: str) -> bool:
        return workflow.patched(patch_id)

    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = workflow.instance().context
        return context

    def upsert_attrs(self, search: dict[str, Any], memo: dict[str, Any]) -> None:
        types = self._host.search_types
        if search:
            workflow.upsert_search_attributes(
                [search_attribute_update(k, v, types.get(k)) for k, v in search.items()]
            )
        if memo:
            workflow.upsert_memo(memo)

    def resolve_child(self, target: str, host: str | None) -> tuple[str, str, str]:
        registry = self._host.programs.registry
        entry = registry.find(target)
        wtype = workflow_type(entry) if entry is not None else target
        worker_id = host or (meta_worker(entry, "workflow") if entry is not None else None)
        worker = registry.find(worker_id) if worker_id else None
        if host and (worker is None or worker.kind != "temporal.worker"):
            worker = worker_for_queue(registry, host)  # a raw task queue (R14)
        if worker is not None and worker.kind == "temporal.worker":
            queue = task_queue_of(registry, worker)
            prefix = f"{{{worker.data['client']}@{worker.id}|"
        else:
            queue = self._host.tq_prefix + host if host else workflow.info().task_queue
            prefix = f"{{{self._host.client_id}@{host or self._host.worker_id}|"
        return wtype, queue, prefix

    def now_ns(self) -> int:
        return (workflow.now() - _EPOCH) // timedelta(microseconds=1) * 1000

    def info(self) -> dict[str, Any]:
        info = workflow.info()
        return {
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
            "workflow_type": info.workflow_type,
            "task_queue": info.task_queue,
            "namespace": info.namespace,
            "attempt": info.attempt,
            "history_length": info.get_current_history_length(),
            "history_size": info.get_current_history_size(),
        }

    def history_length(self) -> int:
        return workflow.info().get_current_history_length()

    def history_size(self) -> int:
        return workflow.info().get_current_history_size()

    def print(self, text: str) -> None:
        if not workflow.unsafe.is_replaying():
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


#: How the server words a cancel request made by another workflow.
_WORKFLOW_CANCEL = re.compile(r"Cancel requested by workflow with run id \S+ with reason: ")


def _cancel_reason() -> str:
    """The reason given with this run's cancel request, as the requester wrote it."""
    return _WORKFLOW_CANCEL.sub("", workflow.cancellation_reason() or "", count=1)


def temporal_retry_policy(policy: RetryPolicy | None) -> TemporalRetryPolicy | None:
    """The SDK's retry policy for one parsed from Lua options (`parse_retry_policy`)."""
    if policy is None:
        return None
    out = TemporalRetryPolicy(non_retryable_error_types=list(policy.non_retryable_error_types))
    if policy.initial_interval is not None:
        out.initial_interval = policy.initial_interval
    if policy.backoff_coefficient is not None:
        out.backoff_coefficient = policy.backoff_coefficient
    if policy.maximum_interval is not None:
        out.maximum_interval = policy.maximum_interval
    if policy.maximum_attempts is not None:
        out.maximum_attempts = policy.maximum_attempts
    return out


@workflow.defn(dynamic=True)
class LuaWorkflow:
    """Runs any `workflow.lua` entry: its type name selects the entry."""

    def __init__(self) -> None:
        #: Set by the header interceptor: sender of the signal being handled, run context.
        self.signal_sender = ""
        self.context: dict[str, Any] = {}
        self.outgoing_context: dict[str, Any] | None = None
        self._events: list[Event | Message] = []
        self._activities: dict[int, asyncio.Future[Any]] = {}
        #: Commands under way, by id: when a timer fires (_FAR for a child workflow), None for
        #: what may answer any moment.
        self._in_flight: dict[int, datetime | None] = {}
        self._children: list[asyncio.Future[None]] = []
        self._updates: dict[str, list[tuple[str, list[Any]]]] = {}
        self._update_seq = 0

    @workflow.update(dynamic=True)
    async def on_update(self, name: str, args: Sequence[RawValue]) -> Any:
        """A Temporal update is a message whose `from()` is a reply address (B5b): the Lua code
        answers "ack" or "nak", reason, then "ok", value or "error", message."""
        values = incoming(workflow.payload_converter(), args, f'update "{name}"')
        self._update_seq += 1
        address = f"{UPDATE_ADDRESS}{self._update_seq}"
        replies: list[tuple[str, list[Any]]] = []
        self._updates[address] = replies
        self._events.append(Message(name, values, address))
        try:
            await workflow.wait_condition(
                lambda: any(topic in ("ok", "error", "nak") for topic, _ in replies)
            )
        finally:
            del self._updates[address]
        topic, reply = next(r for r in replies if r[0] in ("ok", "error", "nak"))
        if topic == "ok":
            return reply[0] if reply else None
        reason = str(reply[0]) if reply else topic
        raise ApplicationError(reason, type="Rejected" if topic == "nak" else "Internal")

    @on_update.validator
    def validate_update(self, name: str, args: Sequence[RawValue]) -> None:
        """An update whose payloads cannot enter the run is rejected with the reason (it is
        never accepted, so it leaves no trace in the history)."""
        try:
            incoming(workflow.payload_converter(), args, f'update "{name}"')
        except ValueConversionError as err:
            raise to_application_error(err) from None

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """Every signal is a message to the Lua process (R4): topic = signal name. A signal
        whose payloads cannot enter the run is dropped with a warning; later ones still count."""
        try:
            values = incoming(workflow.payload_converter(), args, f'signal "{name}"')
        except ValueConversionError as err:
            workflow.logger.warning("signal dropped: %s", err.message)
            return
        self._events.append(Message(name, values, self.signal_sender))

    def _rejected(self, message: Message, err: LuaflowError) -> None:
        """A message the run could not take in (too big for its memory...): dropped; an update
        gets the reason as its rejection."""
        workflow.logger.warning('message "%s" dropped: %s', message.topic, err.message)
        replies = self._updates.get(message.sender)
        if replies is not None:
            replies.append(("nak", [err.message]))

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        host = _host()
        info = workflow.info()
        entry = host.workflows.get(info.workflow_type)
        if entry is None:
            # A task failure, not a workflow failure: deploying the workflow lets the run start.
            raise RuntimeError(
                f'workflow type "{info.workflow_type}" is not registered on worker '
                f"{host.worker_id} (task queue {info.task_queue})"
            )
        try:
            values = incoming(workflow.payload_converter(), args, "the workflow input")
            run = Journal(
                lambda env: host.programs.workflow(entry, env), _TemporalEnv(host), self._rejected
            )
        except LuaflowError as err:
            raise to_application_error(bounded_error(err)) from None
        try:
            return await self._drive(run, values, host)
        except LuaflowError as err:
            # A run that cannot go on fails; only WorkflowTaskError (deploy a fix) fails the task.
            raise to_application_error(bounded_error(err)) from None
        finally:
            run.close()

    async def _drive(self, run: Journal, values: list[Any], host: WorkerHost) -> Any:
        commands = run.start(values)
        while run.outcome is None:
            for command in commands:
                self._launch(host, command)
            if self._idle():
                run.hibernate()
            try:
                await workflow.wait_condition(lambda: bool(self._events))
            except asyncio.CancelledError:
                # R5: a cancel request is an event the Lua code decides about.
                self._events.append(Message(CANCEL_TOPIC, [_cancel_reason()], ""))
            batch, self._events = self._events, []
            commands = run.step(batch)
        outcome = run.outcome
        assert outcome is not None
        # Let update handlers finish with the replies the run gave; unanswered ones fail.
        for replies in self._updates.values():
            replies.append(("error", ["the workflow finished without replying"]))
        await workflow.wait_condition(workflow.all_handlers_finished)
        if outcome.continue_as_new is not None:
            nxt = outcome.continue_as_new
            workflow.continue_as_new(
                args=nxt.args, workflow=nxt.workflow_type or workflow.info().workflow_type
            )
        if outcome.error is not None:
            raise to_application_error(outcome.error)
        return outcome.value

    def _idle(self) -> bool:
        """Whether the run waits only for messages, children and far timers, live and on the first
        execution (a replay by the SDK runs straight through, its state is needed next)."""
        if self._events or workflow.unsafe.is_replaying():
            return False
        soon = workflow.now() + HIBERNATE_AFTER
        return all(due is not None and due >= soon for due in self._in_flight.values())

    def _launch(self, host: WorkerHost, command: Command) -> None:
        future: asyncio.Future[Any]
        due: datetime | None = None  # see _in_flight
        if isinstance(command, ScheduleActivity):
            opts = command.options
            self.outgoing_context = command.context
            future = workflow.start_activity(
                command.activity_type,
                args=command.args,
                task_queue=host.tq_prefix + opts.task_queue if opts.task_queue else None,
                start_to_close_timeout=opts.start_to_close_timeout,
                schedule_to_close_timeout=opts.schedule_to_close_timeout,
                schedule_to_start_timeout=opts.schedule_to_start_timeout,
                heartbeat_timeout=opts.heartbeat_timeout,
                retry_policy=temporal_retry_policy(opts.retry_policy),
                activity_id=opts.activity_id,
                cancellation_type=(
                    workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
                    if opts.wait_for_cancellation
                    else workflow.ActivityCancellationType.TRY_CANCEL
                ),
                summary=command.site or None,
            )
            self.outgoing_context = None
            self._activities[command.id] = future
        elif isinstance(command, DeliverHere):
            future = workflow.start_local_activity(
                DELIVER_HERE_ACTIVITY,
                args=command.args,
                start_to_close_timeout=_DELIVER_HERE_TIMEOUT,
                retry_policy=TemporalRetryPolicy(maximum_attempts=1),
                summary=command.site or None,
            )
        elif isinstance(command, StartChild):
            due = _FAR
            if command.wait:
                future = asyncio.ensure_future(
                    workflow.execute_child_workflow(
                        command.workflow_type, args=command.args, task_queue=command.task_queue
                    )
                )
            else:
                self._in_flight[command.id] = due  # until its exit event (see _spawn_child)
                self._children.append(asyncio.ensure_future(self._spawn_child(command)))
                return
        elif isinstance(command, ReplyUpdate):
            replies = self._updates.get(command.address)
            if replies is None:
                error = LuaflowError(f"update {command.address} is no longer waiting", NOT_FOUND)
                self._events.append(Event(command.id, error=error))
            else:
                replies.append((command.topic, command.args))
                self._events.append(Event(command.id, None))
            return
        elif isinstance(command, CancelExternal):
            handle = workflow.get_external_workflow_handle(command.workflow_id)
            future = asyncio.ensure_future(handle.cancel(reason=command.reason))
        elif isinstance(command, CancelActivity):
            running = self._activities.get(command.activity_command_id)
            if running is not None:
                running.cancel()
            return
        elif isinstance(command, SignalExternal):
            handle = workflow.get_external_workflow_handle(command.workflow_id)
            future = asyncio.ensure_future(handle.signal(command.topic, args=command.args))
        elif isinstance(command, StartTimer):
            due = workflow.now() + command.duration
            future = asyncio.ensure_future(
                workflow.sleep(command.duration, summary=command.site or None)
            )
        else:
            raise RuntimeError(f"unsupported command {command!r}")
        self._in_flight[command.id] = due
        future.add_done_callback(self._completer(command.id))

    async def _spawn_child(self, command: StartChild) -> None:
        """Start a child, report its id, then its exit (`process.spawn*` in a workflow)."""
        try:
            handle = await workflow.start_child_workflow(
                command.workflow_type, args=command.args, task_queue=command.task_queue
            )
        except Exception as exc:
            del self._in_flight[command.id]
            self._events.append(Event(command.id, error=from_failure(exc)))
            return
        self._events.append(Event(command.id, handle.id))
        try:
            # Await first: `self._events` is replaced by the run loop while the child runs.
            value = await handle
            self._events.append(Event(command.exit_event_id, value))
        except (Exception, asyncio.CancelledError) as exc:
            self._events.append(Event(command.exit_event_id, error=from_failure(exc)))
        finally:
            del self._in_flight[command.id]

    def _completer(self, command_id: int) -> Callable[[asyncio.Future[Any]], None]:
        def done(future: asyncio.Future[Any]) -> None:
            self._activities.pop(command_id, None)
            self._in_flight.pop(command_id, None)
            try:
                self._events.append(Event(command_id, future.result()))
            except (Exception, asyncio.CancelledError) as exc:
                self._events.append(Event(command_id, error=from_failure(exc)))

        return done


# -- worker options (SPEC 1.11, B8) --------------------------------------------------------------

_INT_OPTIONS = {
    "max_concurrent_activity_execution_size": "max_concurrent_activities",
    "max_concurrent_workflow_task_execution_size": "max_concurrent_workflow_tasks",
    "max_concurrent_local_activity_execution_size": "max_concurrent_local_activities",
    "max_concurrent_activity_task_pollers": "max_concurrent_activity_task_polls",
    "max_concurrent_workflow_task_pollers": "max_concurrent_workflow_task_polls",
}
_RATE_OPTIONS = {
    "worker_activities_per_second": "max_activities_per_second",
    "task_queue_activities_per_second": "max_task_queue_activities_per_second",
}
_DURATION_OPTIONS = {
    "sticky_schedule_to_start_timeout": "sticky_queue_schedule_to_start_timeout",
    "worker_stop_timeout": "graceful_shutdown_timeout",
    "max_heartbeat_throttle_interval": "max_heartbeat_throttle_interval",
    "default_heartbeat_throttle_interval": "default_heartbeat_throttle_interval",
}
_BOOL_OPTIONS = {
    "disable_eager_activities": "disable_eager_activity_execution",
    "local_activity_worker_only": "no_remote_activities",
    "use_versioning": "use_worker_versioning",
}
_STR_OPTIONS = {"identity": "identity", "build_id": "build_id"}
#: Accepted for compatibility; the Python SDK has no equivalent.
IGNORED_OPTIONS = frozenset(
    {
        "max_concurrent_session_execution_size",
        "max_concurrent_eager_activity_execution_size",
        "worker_local_activities_per_second",
        "deadlock_detection_timeout",
        "enable_logging_in_replay",
        "enable_session_worker",
        "disable_registration_aliasing",
        "deployment_name",
        "default_versioning_behavior",
    }
)


@dataclass
class WorkerSettings:
    kwargs: dict[str, Any]
    ignored: list[str]
    disable_workflows: bool


def worker_settings(entry: Entry) -> WorkerSettings:
    """Map `worker_options` onto `Worker(...)` arguments; bad values name the option."""
    options: Mapping[str, Any] = entry.data.get("worker_options") or {}
    if not isinstance(options, Mapping):
        raise entry.error("expected a mapping", "worker_options")
    kwargs: dict[str, Any] = {}
    ignored: list[str] = []
    disable_workflows = False
    for key, value in options.items():
        path = f"worker_options.{key}"
        if key in _INT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise entry.error(f"expected a non-negative integer, got {value!r}", path)
            if value > 0:
                kwargs[_INT_OPTIONS[key]] = value
        elif key in _RATE_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise entry.error(f"expected a non-negative number, got {value!r}", path)
            if value > 0:
                kwargs[_RATE_OPTIONS[key]] = float(value)
        elif key in _DURATION_OPTIONS:
            try:
                ns = parse_go_duration(str(value))
            except LuaflowError as exc:
                raise entry.error(exc.message, path) from None
            if ns > 0:
                kwargs[_DURATION_OPTIONS[key]] = timedelta(microseconds=ns / 1000)
        elif key in _BOOL_OPTIONS or key == "disable_workflow_worker":
            if not isinstance(value, bool):
                raise entry.error(f"expected true or false, got {value!r}", path)
            if key == "disable_workflow_worker":
                disable_workflows = value
            else:
                kwargs[_BOOL_OPTIONS[key]] = value
        elif key in _STR_OPTIONS:
            if not isinstance(value, str):
                raise entry.error(f"expected a string, got {value!r}", path)
            if value:
                kwargs[_STR_OPTIONS[key]] = value
        elif key in IGNORED_OPTIONS:
            ignored.append(key)
        else:
            raise entry.error("unknown worker option", path)
    return WorkerSettings(kwargs, ignored, disable_workflows)


def register_host(host: WorkerHost) -> None:
    """Make `host` the one the dynamic workflow finds for its namespace and task queue (a worker
    does this; a Replayer needs it too)."""
    key = (host.namespace, host.task_queue)
    if key in _HOSTS and _HOSTS[key] is not host:
        raise RuntimeError(f"task queue {host.task_queue} is already served in this process")
    _HOSTS[key] = host


def workflow_interceptors() -> list[Interceptor]:
    """What every worker and every Replayer of Lua workflows must run (headers carry state the
    Lua code sees: the sender of a message, the context)."""
    return [HeaderInterceptor(lambda: _TemporalEnv(_host()).pid())]


def code_build_id(registry: Registry) -> str:
    """The build id luaflow's workers report unless `worker_options.build_id` sets one:
    luaflow's version and the app's Lua sources, the code the workers run. (The SDK's default
    hashes the bytecode of every imported Python module: a quarter of a second before the first
    worker of a process can poll, and blind to the Lua code.)"""
    digest = hashlib.sha256(__version__.encode())
    for entry_id, entry in sorted(registry.entries.items(), key=lambda item: str(item[0])):
        if entry.source is not None:
            digest.update(f"\0{entry_id}\0{len(entry.source)}\0{entry.source}".encode())
    return f"luaflow-{__version__}-{digest.hexdigest()[:20]}"


def build_worker(client: Client, host: WorkerHost, settings: WorkerSettings) -> Worker:
    """A Worker serving `host`; registered so the dynamic workflow can find it."""
    register_host(host)
    workers = settings.kwargs.get("max_concurrent_activities", 100)
    kwargs = {"build_id": code_build_id(host.programs.registry), **settings.kwargs}
    return Worker(
        client,
        task_queue=host.task_queue,
        workflows=[] if settings.disable_workflows else [LuaWorkflow],
        activities=[host.run_activity, host.deliver_here],
        activity_executor=ThreadPoolExecutor(max_workers=min(workers, 64)),
        workflow_runner=UnsandboxedWorkflowRunner(),
        interceptors=workflow_interceptors(),
        **kwargs,
    )


def release_host(host: WorkerHost) -> None:
    """Forget a host once its worker has shut down."""
    if _HOSTS.get((host.namespace, host.task_queue)) is host:
        del _HOSTS[(host.namespace, host.task_queue)]
