"""The threads host calls run on: bounded while they run, not while they wait."""

from __future__ import annotations

import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

_T = TypeVar("_T")

#: How long a thread with nothing to do stays around.
_IDLE_SECONDS = 30.0


class HostThreads:
    """At most `size` host calls run at once, more wait for their turn. A call that waits
    (`parked`: for a function it called, a message, Temporal) stops counting, so a call that
    calls functions never starves them of threads (a fixed pool would deadlock once every
    thread waits for a call queued behind it)."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._lock = threading.Condition()
        self._work: deque[tuple[concurrent.futures.Future[Any], Callable[[], Any]]] = deque()
        self._running = 0  # calls running and not parked
        self._threads = 0
        self._busy = 0  # threads with a call, running or parked
        self._closed = False
        self._mine = threading.local()

    def submit(self, fn: Callable[[], _T]) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("host threads are shut down")
            self._work.append((future, fn))
            self._dispatch()
        return future

    @contextmanager
    def parked(self) -> Iterator[None]:
        """While inside, the calling call does not count (no effect off these threads)."""
        if not getattr(self._mine, "pool", False):
            yield
            return
        with self._lock:
            self._running -= 1
            self._dispatch()
        try:
            yield
        finally:
            with self._lock:
                self._running += 1

    def shutdown(self) -> None:
        """Run nothing more; idle threads leave (calls still running finish)."""
        with self._lock:
            self._closed = True
            for future, _ in self._work:
                future.cancel()
            self._work.clear()
            self._lock.notify_all()

    def _dispatch(self) -> None:
        """Hand queued work to an idle thread, or start one (lock held)."""
        if not self._work or self._running >= self._size:
            return
        if self._threads > self._busy:
            self._lock.notify()
        else:
            self._threads += 1
            number = self._threads
            threading.Thread(target=self._loop, name=f"{self._name}-{number}", daemon=True).start()

    def _loop(self) -> None:
        self._mine.pool = True
        with self._lock:
            while True:
                while not self._closed and not (self._work and self._running < self._size):
                    if not self._lock.wait(_IDLE_SECONDS) and not self._work:
                        self._threads -= 1
                        return
                if self._closed:
                    self._threads -= 1
                    return
                future, fn = self._work.popleft()
                self._running += 1
                self._busy += 1
                self._dispatch()  # more work, room for it: another thread takes it
                self._lock.release()
                try:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn())
                        except BaseException as exc:
                            future.set_exception(exc)
                finally:
                    self._lock.acquire()
                    self._running -= 1
                    self._busy -= 1
                    self._dispatch()
