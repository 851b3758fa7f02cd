"""Boot an app: validate its registry, start the Temporal clients and workers in lifecycle order."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client, Interceptor, WorkflowHandle
from temporalio.worker import Worker

from luaflow.devserver import STATE_DIR, DevServer, running_server
from luaflow.engine import (
    Programs,
    check_entry_modules,
    chunk_name,
    declared_search_attributes,
    meta_worker,
    task_queue_of,
    workflow_type,
)
from luaflow.engine.temporal import (
    ClientSettings,
    TimeSkippingInterceptor,
    WorkerHost,
    build_worker,
    client_settings,
    connect,
    register_search_attributes,
    release_host,
    worker_settings,
)
from luaflow.lua import LuaflowError, LuaLimits, LuaState, option_duration
from luaflow.process import HeaderClientInterceptor, HostRuntime
from luaflow.registry import LUA_KINDS, Entry, Registry, RegistryError, load_registry

if TYPE_CHECKING:
    # Imported when the first http.service starts (`_start_http`): the web stack is no part of
    # the start-up of a command that serves no HTTP, nor of a worker's first poll.
    from luaflow.http import HttpService

Reporter = Callable[[str], None]

#: How long host processes get to finish after a `pid.cancel` at shutdown.
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Restart:
    initial_delay: float = 1.0
    max_delay: float = 90.0
    backoff_factor: float = 2.0
    max_attempts: int = 0  # 0: forever


def _restart_policy(entry: Entry) -> _Restart:
    """`lifecycle.restart` of a service (SPEC 1.14); bad values name the field."""
    spec = entry.lifecycle.restart
    if spec is None:
        return _Restart()
    try:
        return _Restart(
            initial_delay=_seconds(spec.get("initial_delay", "1s")),
            max_delay=_seconds(spec.get("max_delay", "90s")),
            backoff_factor=float(spec.get("backoff_factor", 2.0)),
            max_attempts=int(spec.get("max_attempts", 0)),
        )
    except (LuaflowError, TypeError, ValueError) as exc:
        raise entry.error(str(exc), "lifecycle.restart") from None


def _seconds(value: Any) -> float:
    return option_duration(value, "duration").total_seconds()


def validate(registry: Registry) -> None:
    """Everything that can be checked before connecting: modules, Lua syntax, options, and
    that each workflow module loads and has its entry point."""
    for entry in registry.by_kind(*LUA_KINDS):
        check_entry_modules(entry)
        state = LuaState()
        try:
            state.load(entry.source or "", chunk_name(registry, entry))
        except LuaflowError as err:
            raise entry.error(f"Lua syntax error: {err.message}", "source") from None
        finally:
            state.close()
    programs = Programs(registry)
    for entry in registry.by_kind("workflow.lua"):
        programs.check_workflow(entry)
    for entry in registry.by_kind("temporal.client"):
        client_settings(entry)
    for entry in registry.by_kind("temporal.worker"):
        worker_settings(entry)
    for entry in registry.by_kind("process.service"):
        _restart_policy(entry)


@dataclass
class _RunningWorker:
    worker: Worker
    host: WorkerHost | None  # None: a node's delivery worker
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.worker.shutdown()
        await asyncio.gather(self.task, return_exceptions=True)
        if self.host is not None:
            release_host(self.host)


@dataclass
class App:
    """A loaded app. `start()` connects clients and starts workers; `stop()` undoes it."""

    registry: Registry
    report: Reporter = print
    limits: LuaLimits = field(default_factory=LuaLimits)
    server: DevServer | None = None
    _clients: dict[str, tuple[ClientSettings, Client]] = field(default_factory=dict)
    _workers: list[_RunningWorker] = field(default_factory=list)
    _embedded_address: str | None = None
    _host: HostRuntime | None = None
    #: Workers of this node's delivery queue, by client id (see HostRuntime.node_worker).
    _nodes: dict[str, _RunningWorker] = field(default_factory=dict)
    _services: list[asyncio.Task[None]] = field(default_factory=list)
    _http: list[HttpService] = field(default_factory=list)
    #: Where each http.service listens, once started: entry id -> (host, port).
    http_addresses: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: More interceptors for every client (a test run tracks the workflows it starts).
    interceptors: list[Interceptor] = field(default_factory=list)
    _test_server: bool = False
    _time_skipping: bool = False
    _scratch: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def load(
        cls, path: Path | str, report: Reporter = print, environ: Mapping[str, str] | None = None
    ) -> App:
        return cls.of(load_registry(path, environ), report)

    @classmethod
    def of(
        cls, registry: Registry, report: Reporter = print, server: DevServer | None = None
    ) -> App:
        """The app of a loaded registry, validated. `server`: the app's embedded server,
        launched (`DevServer.launch`) by a caller that knew it would be needed; the app finishes
        its start with its first embedded client and stops it."""
        validate(registry)
        for kind, entries in sorted(registry.ignored_kinds.items()):
            ids = ", ".join(str(e) for e in entries)
            report(f"ignoring entries of unsupported kind {kind}: {ids}")
        return cls(registry, report, server=server)

    @property
    def state_dir(self) -> Path:
        return self.registry.root / STATE_DIR

    def use_test_server(self, *, time_skipping: bool) -> None:
        """Embedded clients get a fresh in-memory server of their own (never the app's state
        nor a running app's server); with `time_skipping`, every workflow started through the
        app's clients skips time. Call before `start()`."""
        self._test_server = True
        self._time_skipping = time_skipping

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(
        self, *, workers: bool = True, http: bool = False, services: bool = False
    ) -> None:
        """Start auto-start entries in dependency order (clients before their workers); HTTP
        services and `process.service` entries only when asked (`luaflow run`)."""
        self._runtime()
        last = []
        for entry in self.registry.start_order():
            if entry.kind == "temporal.client":
                await self.client(str(entry.id))
            elif entry.kind == "temporal.worker" and workers:
                await self._start_worker(entry)
            elif (entry.kind == "process.service" and services) or (
                entry.kind == "http.service" and http
            ):
                last.append(entry)
        for entry in last:  # they may start workflows right away
            if entry.kind == "http.service":
                await self._start_http(entry)
            else:
                task = asyncio.create_task(self._supervise(entry), name=f"service {entry.id}")
                self._services.append(task)

    def _runtime(self) -> HostRuntime:
        if self._host is None:
            self._host = HostRuntime(
                self.registry, asyncio.get_running_loop(), self.client, self.limits
            )
        return self._host

    async def _start_node(self, client_id: str) -> None:
        """Serve this node's delivery queue on a client, so workflows can message its host
        processes (started with the app's clients)."""
        if client_id in self._nodes or self._host is None:
            return
        settings, client = self._clients[client_id]
        worker = self._host.node_worker(client, settings.tq_prefix)
        task = asyncio.create_task(worker.run(), name=f"node {client_id}")
        self._nodes[client_id] = _RunningWorker(worker, None, task)

    async def _supervise(self, entry: Entry) -> None:
        """Run a `process.service`, restarting it after a failure (`lifecycle.restart`)."""
        process = self.registry.get(str(entry.data["process"]))
        args = entry.data.get("input") or []
        restart = _restart_policy(entry)
        delay, failures = restart.initial_delay, 0
        while True:
            pid, done = self._runtime().spawn_process(process, list(args))
            self.report(f"service {entry.id} is running: {process.id} as {pid}")
            try:
                await asyncio.wrap_future(done)
                self.report(f"service {entry.id} exited")
                return
            except LuaflowError as err:
                failures += 1
                self.report(f"service {entry.id} failed: {err.text()}")
            if restart.max_attempts and failures >= restart.max_attempts:
                self.report(f"service {entry.id}: giving up after {failures} failure(s)")
                return
            await asyncio.sleep(delay)
            delay = min(delay * restart.backoff_factor, restart.max_delay)

    async def _start_http(self, entry: Entry) -> None:
        # The web stack loads on a thread: the loop stays free for the workers just started,
        # which begin to poll meanwhile.
        http = await asyncio.to_thread(importlib.import_module, "luaflow.http")
        DEFAULT_MAX_BODY, HttpService = http.DEFAULT_MAX_BODY, http.HttpService
        max_body = entry.data.get("max_body", DEFAULT_MAX_BODY)
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
            raise entry.error("expected a positive number of bytes", "max_body")
        service = HttpService(entry, self.registry, self._handle_http, max_body)
        host, port = await service.start()
        self._http.append(service)
        self.http_addresses[str(entry.id)] = (host, port)
        self.report(f"http service {entry.id} listening on http://{host}:{port}")
        for route in service.routes:
            self.report(f"  {route}")

    async def _handle_http(self, entry: Entry, modules: Mapping[str, Any]) -> Any:
        return await self._runtime().run(entry, [], modules)

    async def stop(self) -> None:
        """Stop HTTP services, then workers (reverse order), then the embedded server. Safe to
        call twice."""
        for service in reversed(self._http):
            await service.stop()
        self._http.clear()
        for task in self._services:
            task.cancel()
        await asyncio.gather(*self._services, return_exceptions=True)
        self._services.clear()
        if self._host is not None:
            await self._host.stop(STOP_TIMEOUT)
            self._host = None
        for running in [*self._nodes.values(), *reversed(self._workers)]:
            await running.stop()
        self._nodes.clear()
        self._workers.clear()
        self._clients.clear()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _embedded(self, settings: ClientSettings) -> str:
        if self._embedded_address is None:
            launched, self.server = self.server, None
            if launched is not None and (
                self._test_server or launched.namespace != settings.namespace
            ):
                await launched.stop()  # not the server this client needs
                launched = None
            attached = None
            if launched is None and not self._test_server:
                attached = running_server(self.state_dir)
            if attached is not None:
                self._embedded_address = attached[0]
                self.report(f"using the Temporal server of the running app: UI {attached[1]}")
            elif self._test_server:
                self._scratch = tempfile.TemporaryDirectory(prefix="luaflow-test-")
                self.server = DevServer(
                    Path(self._scratch.name),
                    namespace=settings.namespace,
                    persistent=False,
                    time_skipping=self._time_skipping,
                )
                await self.server.start()
                self._embedded_address = self.server.address
                mode = "with time skipping" if self._time_skipping else "in real time"
                self.report(f"test Temporal server (in memory, {mode}) at {self.server.address}")
            else:
                self.server = launched or DevServer(self.state_dir, namespace=settings.namespace)
                await self.server.start()
                self._embedded_address = self.server.address
                self.report(
                    f"embedded Temporal server at {self.server.address}, UI {self.server.ui_url}"
                )
        return self._embedded_address

    def _client_interceptors(self, entry: Entry, address: str, embedded: bool) -> list[Interceptor]:
        interceptors: list[Interceptor] = [HeaderClientInterceptor(), *self.interceptors]
        if self._test_server and not embedded:
            self.report(f"client {entry.id}: tests run on its server at {address}")
        if self._time_skipping:

            def unsupported(message: str) -> None:
                self.report(
                    f"client {entry.id}: the server at {address} refused time skipping "
                    f"({message}); tests run in real time. Time skipping needs the embedded "
                    "server or a dev server started with --dynamic-config-value "
                    "frontend.WorkflowTimeSkippingEnabled=true"
                )

            interceptors.append(TimeSkippingInterceptor(unsupported))
        return interceptors

    async def client(self, client_id: str) -> tuple[ClientSettings, Client]:
        """The connected client of a `temporal.client` entry (connecting on first use)."""
        if client_id not in self._clients:
            entry = self.registry.get(client_id)
            settings = client_settings(entry)
            if settings.ignored:
                self.report(
                    f"client {entry.id}: fields with no Temporal Python equivalent ignored: "
                    + ", ".join(settings.ignored)
                )
            address = await self._embedded(settings) if settings.embedded else settings.address
            interceptors = self._client_interceptors(entry, address, settings.embedded)
            try:
                client = await connect(settings, address, interceptors)
            except (RuntimeError, ValueError) as exc:
                message = f"cannot connect to Temporal at {address}: {exc}"
                raise entry.error(message, None if settings.embedded else "address") from None
            if settings.embedded:
                await register_search_attributes(
                    client, settings.namespace, declared_search_attributes(self.registry)
                )
            self._clients[client_id] = (settings, client)
            await self._start_node(client_id)
        return self._clients[client_id]

    def programs(self) -> Programs:
        """Lua programs of this app; host code gets the `process` global once the app runs."""
        if self._host is not None:
            return self._host.programs
        return Programs(self.registry, self.limits)

    async def call(self, entry_id: str, args: Sequence[Any] = ()) -> Any:
        """Run a `function.lua` entry as host code (on a thread: it may block on Temporal)."""
        entry = self.registry.get(entry_id)
        if entry.kind != "function.lua":
            raise RegistryError(f"{entry.id} is a {entry.kind}, not a function.lua entry")
        return await self._runtime().run(entry, list(args))

    def spawn(
        self, entry_id: str, args: Sequence[Any] = ()
    ) -> tuple[str, concurrent.futures.Future[Any]]:
        """Run a `function.lua` entry as a host process on a thread of its own: its PID (see
        `kill`) and its outcome. Call from the app's loop, after `start()`."""
        entry = self.registry.get(entry_id)
        if entry.kind != "function.lua":
            raise RegistryError(f"{entry.id} is a {entry.kind}, not a function.lua entry")
        return self._runtime().spawn_process(entry, list(args))

    def kill(self, pid: str, error: LuaflowError) -> None:
        """End a host process started with `spawn` with `error`, at its next wait."""
        self._runtime().kill(pid, error)

    async def _deliver_here(self, dest: str, topic: str, args: list[Any], sender: str) -> bool:
        """A workflow's message to a host PID, from a worker of this app: delivered when the
        PID is one of this node's processes (none run before the host runtime exists)."""
        host = self._host
        return host is not None and await host.deliver_here(dest, topic, args, sender)

    def worker_host(self, entry: Entry) -> WorkerHost:
        """What a `temporal.worker` entry serves (also used to replay histories offline)."""
        settings = client_settings(self.registry.get(str(entry.data["client"])))
        host = WorkerHost(
            worker_id=str(entry.id),
            client_id=str(entry.data["client"]),
            namespace=settings.namespace,
            task_queue=task_queue_of(self.registry, entry),
            tq_prefix=settings.tq_prefix,
            programs=self.programs(),
            search_types=declared_search_attributes(self.registry),
            deliver_local=self._deliver_here,
        )
        for wf in self.registry.by_kind("workflow.lua"):
            if meta_worker(wf, "workflow") == str(entry.id):
                host.workflows[workflow_type(wf)] = wf
        for act in self.registry.by_kind("function.lua", "process.lua"):
            if meta_worker(act, "activity") == str(entry.id):
                host.activities[str(act.id)] = act
        return host

    async def _start_worker(self, entry: Entry) -> None:
        _, client = await self.client(str(entry.data["client"]))
        options = worker_settings(entry)
        host = self.worker_host(entry)
        if options.ignored:
            self.report(
                f"worker {entry.id}: options with no Temporal Python equivalent ignored: "
                + ", ".join(sorted(options.ignored))
            )
        worker = build_worker(client, host, options)
        task = asyncio.create_task(worker.run(), name=f"worker {entry.id}")
        self._workers.append(_RunningWorker(worker, host, task))
        self.report(
            f"worker {entry.id} on task queue {host.task_queue}: "
            f"{len(host.workflows)} workflow(s), {len(host.activities)} activity(ies)"
        )

    async def wait(self) -> None:
        """Block until a worker stops (they run until `stop()`); a worker crash is raised."""
        if not self._workers:
            await asyncio.Event().wait()
        await asyncio.wait([w.task for w in self._workers], return_when=asyncio.FIRST_COMPLETED)
        for running in self._workers:
            if running.task.done() and running.task.exception() is not None:
                raise running.task.exception()  # type: ignore[misc]

    # -- workflows -------------------------------------------------------------------------------

    async def workflow_target(self, entry_id: str) -> tuple[Client, str, str]:
        """(client, workflow type, task queue) a workflow entry is started with."""
        entry = self.registry.get(entry_id)
        if entry.kind != "workflow.lua":
            raise RegistryError(f"{entry.id} is a {entry.kind}, not a workflow.lua entry")
        worker_id = meta_worker(entry, "workflow")
        if worker_id is None:
            raise entry.error("the workflow has no worker", "meta.temporal.workflow.worker")
        worker = self.registry.get(worker_id)
        _, client = await self.client(str(worker.data["client"]))
        return client, workflow_type(entry), task_queue_of(self.registry, worker)

    async def start_workflow(
        self, entry_id: str, args: Sequence[Any] = (), workflow_id: str | None = None
    ) -> WorkflowHandle[Any, Any]:
        client, type_name, task_queue = await self.workflow_target(entry_id)
        return await client.start_workflow(
            type_name, args=list(args), id=workflow_id or str(uuid.uuid4()), task_queue=task_queue
        )

    async def any_client(self) -> Client:
        """The first client of the app (for commands that address a workflow by id)."""
        clients = self.registry.by_kind("temporal.client")
        if not clients:
            raise RegistryError(f"no temporal.client entry in {self.registry.root}")
        return (await self.client(str(clients[0].id)))[1]
