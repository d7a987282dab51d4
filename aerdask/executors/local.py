"""The thread-pool side: any ``concurrent.futures.Executor``, and the shared default pool."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np
import psutil

from aerdask_kernels.readiness import COMPILING_NOTE, waiting
from aerdask_kernels.sharded import LocalShardStore, ShardStore

from .base import ExecutorAdapter, FutureHandle, TaskHandle

__all__ = ["LocalAdapter", "default_executor"]

#: Seconds a compile lasts before a job's progress says it waits on it.
COMPILE_NOTE_AFTER_S = 1.0
_lock = threading.Lock()
_default: concurrent.futures.ThreadPoolExecutor | None = None


def default_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The process-wide thread pool (one thread per core), created on first use.

    Threads do not survive ``os.fork``; a forked child gets a fresh pool on its
    first job instead of one whose threads are gone.
    """
    global _default
    with _lock:
        if _default is None:
            _default = concurrent.futures.ThreadPoolExecutor(
                max_workers=os.cpu_count() or 1, thread_name_prefix="aerdask"
            )
        return _default


def _forget_pool_after_fork() -> None:
    global _default, _lock
    _default = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


class _LocalHandle(FutureHandle):
    def __init__(self, future: concurrent.futures.Future, flag: np.ndarray, key: str):
        self.future = future
        self.flag = flag
        self.key = key


class LocalAdapter(ExecutorAdapter):
    """Runs tasks on a ``concurrent.futures.Executor``.

    Cooperative cancel of a running task needs shared memory: it works on a
    ``ThreadPoolExecutor``; on a process pool only queued tasks can be cancelled.
    """

    def __init__(self, executor: concurrent.futures.Executor):
        self.executor = executor

    def submit(self, fn: Callable, program, key: str, job_id: str, placement=None) -> TaskHandle:
        flag = np.zeros(1, dtype=np.uint8)
        return _LocalHandle(self.executor.submit(fn, program, flag), flag, key)

    def shard_store(self, key: str, program, flag: np.ndarray) -> ShardStore:
        # One process: the shards are arrays here, run one after another. It saves no memory (an
        # exchange holds a second copy), but runs the same plan as a cluster, which tests use.
        return LocalShardStore()

    def memory_limit(self) -> int:
        return psutil.virtual_memory().available

    def threads(self) -> int:
        # Thread and process pools keep their size here; any other executor: one per core.
        return getattr(self.executor, "_max_workers", None) or os.cpu_count() or 1

    def waiting_note(self, handles: Sequence[TaskHandle]) -> str | None:
        # The tasks run in this process: a compile here that has lasted a second is what they wait on.
        if any(h.running() for h in handles) and waiting() > COMPILE_NOTE_AFTER_S:
            return COMPILING_NOTE
        return None

    def wait(self, handles: Sequence[TaskHandle], timeout: float | None) -> None:
        concurrent.futures.wait(
            [h.future for h in handles], timeout=timeout, return_when=concurrent.futures.FIRST_EXCEPTION
        )
