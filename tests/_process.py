"""Child `luaflow` processes in tests: start them and watch their output with timeouts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def luaflow_run(app: Path, address: str, queue: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a `luaflow run` of a test app on the session's server
    and its own task queue (`TASK_QUEUE`)."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "TASK_QUEUE": queue, "PYTHONUNBUFFERED": "1"}
    return [sys.executable, "-m", "luaflow", "run", str(app)], env


def spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )


class Output:
    """Collects a child's stdout on a thread, so waiting for a line can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.text += line

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen; output so far:\n{self.text}")
            time.sleep(0.1)
