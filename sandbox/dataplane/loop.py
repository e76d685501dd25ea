"""One asyncio event loop in one background thread, which the data path's servers share.

The twin's other parts (the Kubernetes API, the cloud controller, moto's hooks) call the data
path from their own threads and expect plain blocking calls. Each such call is handed to this
loop with ``run`` and waited for; every socket is created, served and closed on the loop's
thread, so no lock is needed around them. ``stop`` cancels whatever is still running, closes
the loop and joins the thread, leaving nothing behind; a later ``run`` starts a fresh loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_CALL_TIMEOUT = 30.0
_JOIN_TIMEOUT = 10.0
_CANCEL_ROUNDS = 5
_CANCEL_WAIT = 0.5


class LoopThread:
    """An event loop running in a daemon thread, started on first use."""

    def __init__(self, name: str = "dataplane") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread and its loop are up."""
        return self._thread is not None and self._thread.is_alive()

    def in_loop_thread(self) -> bool:
        """Whether the caller is the loop's own thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the thread unless it runs already; return its loop."""
        with self._lock:
            if self._loop is not None and self._thread is not None and self._thread.is_alive():
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=self._main, args=(loop, ready), name=self._name, daemon=True
            )
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
            return loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = DEFAULT_CALL_TIMEOUT) -> T:
        """Run a coroutine on the loop and return its result (blocks the calling thread)."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("a blocking data-plane call was made from the data plane's loop")
        loop = self.start()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        """Cancel what still runs, close the loop and join the thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_JOIN_TIMEOUT)

    @staticmethod
    def _main(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            # Cancel in rounds: a cancellation that races with a completion can be lost.
            for _ in range(_CANCEL_ROUNDS):
                pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
                if not pending:
                    break
                for task in pending:
                    task.cancel()
                with contextlib.suppress(Exception):
                    loop.run_until_complete(asyncio.wait(pending, timeout=_CANCEL_WAIT))
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
