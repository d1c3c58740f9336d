"""Who runs the handlers of an inbox file: one process at a time.

Every web process may accept into the same file, but handlers run in the one process that
holds an exclusive lock on ``<inbox>.lock`` (``flock``). The kernel releases it when that
process dies, however it dies (SIGKILL included), and the next process to ask takes over:
start a worker in every web process and exactly one of them works. Without ``fcntl``
(Windows) there is no lock: run a single worker there.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class WorkerLock:
    def __init__(self, path: str | Path) -> None:
        self._path = f"{path}.lock"
        self._fd: int | None = None
        self._mutex = threading.Lock()

    def acquire(self) -> bool:
        """Whether this process now holds the lock (kept until ``release``)."""
        with self._mutex:
            if self._fd is not None or fcntl is None:
                return True
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)  # closing the descriptor releases the flock
                self._fd = None
