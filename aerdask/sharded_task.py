"""A sharded task: one state split over an executor's workers, its walk on a thread of the client.

Not an executor's concern: an adapter only says where shards live (``shard_store``); the
walk (:func:`aerdask_kernels.sharded.run_sharded`) drives them from here.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

import numpy as np

from aerdask_kernels.sharded import ShardStore, run_sharded

from .executors.base import ExecutorAdapter, FutureHandle

__all__ = ["ShardedHandle", "submit_sharded"]

logger = logging.getLogger("aerdask")


class ShardedHandle(FutureHandle):
    """A sharded run (:func:`aerdask_kernels.sharded.run_sharded`): a walk on a thread here, shards on the executor.

    ``cancel`` sets the walk's flag: it stops before its next shard task, or within a
    second of waiting on one.
    """

    def __init__(self, key: str, program, store_for: Callable, on_done: Callable | None = None):
        """Start the walk on a thread of its own.

        Args:
            key: The task's name (logs, the thread's name).
            program: A program with ``shards > 1``.
            store_for: ``store_for(cancel_flag)``, the :class:`ShardStore` its shards live in.
            on_done: Called once the walk has ended, whatever its outcome.
        """
        self.key = key
        self.flag = np.zeros(1, dtype=np.uint8)
        store = store_for(self.flag)  # the store's waits read the same flag
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        if on_done is not None:
            self.future.add_done_callback(lambda _: on_done())
        self._thread = threading.Thread(target=self._main, args=(program, store), name=f"aerdask-{key}", daemon=True)
        self._thread.start()

    def _main(self, program, store: ShardStore) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            results = run_sharded(program, store, self.flag)
            for raw in results:  # the plan's figures, as the result's metadata["sharding"] holds them
                logger.info(
                    "task %s: experiment %d (%r) sharded: %s", self.key, raw["index"], raw["name"], raw["sharding"]
                )
            self.future.set_result(results)
        except BaseException as exc:  # the job reads it from the future, as a task's error
            # Without its traceback: the walk's frames would keep its shards' futures alive
            # for as long as the job object lives.
            self.future.set_exception(exc.with_traceback(None))


def submit_sharded(adapter: ExecutorAdapter, program, key: str) -> ShardedHandle:
    """Run ``program`` on ``program.options["shards"]`` shards held by ``adapter``'s executor."""
    return ShardedHandle(key, program, lambda flag: adapter.shard_store(key, program, flag), adapter.task_ended)
