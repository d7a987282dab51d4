"""Shards on a Dask cluster: each shard a future pinned to one worker.

The walk (:mod:`aerdask_kernels.sharded`) runs on a thread of the client and
submits one task per shard per step. Each task is pinned to the worker that holds
its shard (``allow_other_workers=False``), so a shard never moves except as the
pieces of an exchange, which the workers pass to each other. Keys are unique
(``pure=False``) and tasks have no retries: a shard exists once, on one worker.

A worker that leaves takes its shards with it. Dask would then wait forever for a
pinned task's worker (or recompute the lost shard from its whole history), so
every wait here also checks that the shards' workers are still there, and fails
the run with :class:`~aerdask.errors.ShardLostError` when one is not.
"""

from __future__ import annotations

import itertools
import weakref

import distributed

from aerdask_kernels.runtime.errors import JobCancelledError
from aerdask_kernels.sharded import ShardStore

from ..admission import WorkerMemory, shard_places
from ..errors import ShardLostError
from .dask_calls import cancel, scheduler_info

__all__ = ["DaskShardStore"]

_WAKE_S = 0.5  # a wait looks at the cancel flag and the workers at least this often


class DaskShardStore(ShardStore):
    """A :class:`~aerdask_kernels.sharded.ShardStore` on a ``distributed.Client``.

    Args:
        client: The client.
        key: The sharded task's key: the prefix of its shard tasks' keys.
        flag: uint8, shape ``(1,)``: the run's cancel flag, read while waiting.
        workers: What each worker offers (places shards, see :func:`aerdask.admission.shard_places`).
        shard_bytes: Bytes of one shard, given the shard count.
    """

    def __init__(self, client: distributed.Client, key: str, flag, workers: list[WorkerMemory], shard_bytes):
        self.client = client
        self.key = key
        self.flag = flag
        self.workers = workers
        self.shard_bytes = shard_bytes
        self._count = itertools.count()
        self._used: set[str] = set()
        # Every future made here, weakly: close() releases those still referenced (a cancelled
        # walk's frames can outlive it in the exception's traceback), without keeping old shards.
        self._made: weakref.WeakSet = weakref.WeakSet()

    def places(self, shards: int) -> list:
        """The worker address of each shard (see :func:`aerdask.admission.shard_places`)."""
        places = shard_places(self.workers, shards, self.shard_bytes(shards))
        self._used = set(places)
        return places

    def put(self, value, where=None):
        """``value`` scattered to worker ``where`` (a list around it: Dask would scatter a tuple's items)."""
        future = self.client.scatter([value], workers=None if where is None else [where], hash=False)[0]
        self._made.add(future)
        return future

    def submit(self, fn, *args, where=None):
        """``fn(*args)`` as a task pinned to worker ``where``, with a unique key and no retry."""
        pin = {} if where is None else {"workers": [where], "allow_other_workers": False}
        key = f"{self.key}-shard-{next(self._count)}"
        future = self.client.submit(fn, *args, key=key, pure=False, retries=0, **pin)
        self._made.add(future)
        return future

    def close(self) -> None:
        """Release every shard on the cluster (the run ended: finished, failed or cancelled)."""
        futures = list(self._made)
        self._made.clear()
        if futures and self.client.status == "running":
            try:
                cancel(self.client, futures)
            except Exception:  # noqa: BLE001 (a scheduler that is gone took its shards with it)
                pass

    def gather(self, refs: list) -> list:
        """The values of ``refs``, once computed (see :meth:`wait`)."""
        self.wait(refs)
        return self.client.gather(refs)

    def wait(self, refs: list) -> None:
        """Block until ``refs`` are computed, checking the cancel flag and the shards' workers.

        Raises:
            JobCancelledError: if the flag was set.
            ShardLostError: if a worker holding shards left, or a future was lost.
        """
        futures = [r for r in refs if isinstance(r, distributed.Future)]
        while True:
            if self.flag[0]:
                raise JobCancelledError("job cancelled while running")
            try:
                distributed.wait(futures, timeout=_WAKE_S)
            except TimeoutError:
                pass
            bad = [f for f in futures if f.status in ("lost", "cancelled")]
            if bad:
                raise ShardLostError(
                    f"task {bad[0].key} of sharded task {self.key} was {bad[0].status}; a sharded state has no "
                    "retry (each shard lives once, in one worker's memory): resubmit the job"
                )
            if all(f.done() for f in futures) or any(f.status == "error" for f in futures):
                return  # a failed task raises its error where its value is gathered
            self._check_workers()

    def _check_workers(self) -> None:
        gone = self._used - set(scheduler_info(self.client)["workers"])
        if gone:
            raise ShardLostError(
                f"sharded task {self.key}: worker {sorted(gone)[0]} left the cluster with its shards; a sharded "
                "state has no retry (each shard lives once, in one worker's memory): resubmit the job"
            )
