"""One watcher per Dask client: task events, worker deaths, results gathered as tasks finish.

A job's waiters never call Dask: they wait on :attr:`ClusterMonitor.changed`, and
everything that asks the scheduler runs here, on one background thread per client,
each call bounded (:mod:`.dask_calls`):

* **Results are gathered as tasks finish**, a batch per round, so a finished job does
  not depend on its workers staying alive. A task whose output is large (see
  :func:`aerdask.admission.output_bytes` and ``aerdask.gather-limit``) leaves it on
  the cluster until the job's result is asked for.
* **Worker deaths are told apart**: a task that logged its start on a worker and not its
  end was *running* there when the worker died (the task may be at fault, and counts
  against ``max_worker_deaths``); a task that was only assigned there *waited*, and a
  finished result that was not yet gathered was *lost* and is computed again. The
  scheduler says which tasks a removed worker held (:data:`aerdask_worker.WORKER_REMOVED_TOPIC`,
  forwarded by :class:`aerdask_worker.AerdaskSchedulerPlugin`).
* **A cluster without workers** is noticed (:attr:`ClusterMonitor.no_workers_since`);
  each task fails after its own ``no_worker_timeout`` from that moment.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import weakref

from aerdask_worker import ENDED_TOPIC, STARTED_TOPIC, WORKER_REMOVED_TOPIC, cancel_job_soon

from .dask_calls import SchedulerTimeout, cancel, gather, run, scheduler_info
from .registry import state

__all__ = ["TaskEvents", "ClusterMonitor", "monitor_for"]

logger = logging.getLogger("aerdask")

_TICK_S = 0.5  # the monitor looks at its queue at least this often
_HEALTH_EVERY_S = 2.0  # and asks the scheduler about its workers at most this often
# One background gather is bounded by this plus its bytes at _GATHER_BYTES_PER_S: long enough to move
# the results, short enough that a lost one (Dask waits inside the gather for it to be computed again)
# does not keep the monitor from its other work. A result being recomputed is waited for in later rounds.
_GATHER_TIMEOUT_S = 5.0
_GATHER_BYTES_PER_S = 20e6
_RETRY_GATHER_S = 1.0  # a gather that failed with the result still there is tried again after this


class TaskEvents:
    """Task key -> where it started, whether it is running, and the worker deaths it ran into.

    Filled by the event handlers. Past :data:`MAX_KEYS` the oldest keys are forgotten, so
    a long-lived client does not grow without bound (a key that old belongs to a task
    that ended long ago).
    """

    MAX_KEYS = 50_000

    def __init__(self):
        self.workers: dict[str, str] = {}  # the worker that last started the key
        self.starts: dict[str, int] = {}
        self.open: dict[str, str] = {}  # started and not ended: key -> worker running it
        self.running_deaths: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, event) -> None:
        """A start event ``(time, {"key", "worker"})`` (the handler of :data:`STARTED_TOPIC`)."""
        _, msg = event
        key, worker = msg["key"], msg["worker"]
        with self.lock:
            if key in self.open:  # started again without an end: the worker running it died
                self.running_deaths[key] = self.running_deaths.get(key, 0) + 1
            self.open[key] = worker
            self.workers[key] = worker
            self.starts[key] = self.starts.get(key, 0) + 1
            while len(self.starts) > self.MAX_KEYS:  # dicts keep insertion order: the oldest first
                oldest = next(iter(self.starts))
                for table in (self.starts, self.workers, self.open, self.running_deaths):
                    table.pop(oldest, None)

    def ended(self, event) -> None:
        """An end event (the handler of :data:`ENDED_TOPIC`): the task left its worker's thread."""
        _, msg = event
        with self.lock:
            if self.open.get(msg["key"]) == msg["worker"]:
                del self.open[msg["key"]]

    def worker_died(self, key: str, worker: str) -> bool:
        """Note that ``worker`` died while holding ``key``; True if it was running it there."""
        with self.lock:
            if self.open.get(key) != worker:
                return False
            del self.open[key]
            self.running_deaths[key] = self.running_deaths.get(key, 0) + 1
            return True

    def workers_gone(self, alive: set, keys) -> list[tuple[str, str]]:
        """``(key, worker)`` for each of ``keys`` running on a worker not in ``alive`` (a death missed)."""
        found = []
        with self.lock:
            for key in keys:
                worker = self.open.get(key)
                if worker is not None and worker not in alive:
                    found.append((key, worker))
        return [(key, worker) for key, worker in found if self.worker_died(key, worker)]

    def deaths(self, key: str) -> int:
        """How many workers died while running ``key``."""
        with self.lock:
            return self.running_deaths.get(key, 0)

    def __contains__(self, key) -> bool:
        with self.lock:
            return key in self.workers

    def worker(self, key: str) -> str | None:
        """The worker that last started ``key``."""
        with self.lock:
            return self.workers.get(key)


class ClusterMonitor:
    """Watches the tasks of every job of one client (see the module docs).

    Handles register with :meth:`watch`; they read :attr:`events`,
    :attr:`no_workers_since` and :attr:`unanswered_since`, and settle themselves
    through the callbacks here.
    """

    def __init__(self, client):
        self._client = weakref.ref(client)
        self.changed = threading.Condition()  # notified whenever a watched task's state changes
        self.version = 0  # counts the notifications: a waiter that saw it unchanged has missed none
        self.events = TaskEvents()
        self.no_workers_since: float | None = None  # monotonic time the cluster was first seen empty
        self.unanswered_since: float | None = None  # since when the scheduler has not answered
        self._handles: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._queue: collections.deque = collections.deque()
        self._retry: list = []
        self._cancels: list = []
        self._signals: list[str] = []
        self._calls: list = []
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_health = 0.0
        client.subscribe_topic(STARTED_TOPIC, self.events)
        client.subscribe_topic(ENDED_TOPIC, self.events.ended)
        client.subscribe_topic(WORKER_REMOVED_TOPIC, self._worker_removed)

    # -- registration ----------------------------------------------------------------
    def watch(self, handle) -> None:
        """Follow ``handle`` until it settles (its future's done callback, deaths, workers)."""
        with self._lock:
            self._handles[handle.key] = handle
            self._start()
        handle.future.add_done_callback(self._done)

    def cancel_soon(self, handle) -> None:
        """Cancel ``handle``'s future from the monitor's thread (a call to the scheduler)."""
        with self._lock:
            self._cancels.append(handle.future)
            self._start()
        self._wake.set()

    def signal_cancel(self, job_id: str) -> None:
        """Have every worker stop ``job_id``'s running tasks at their next gate (sent from the monitor's thread)."""
        with self._lock:
            self._signals.append(job_id)
            self._start()
        self._wake.set()

    def call_soon(self, fn, *args) -> None:
        """Run ``fn(*args)`` on the monitor's thread (a call to the scheduler nobody waits for)."""
        with self._lock:
            self._calls.append((fn, args))
            self._start()
        self._wake.set()

    def notify(self) -> None:
        """Wake every waiter on :attr:`changed`."""
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def wait_for_change(self, seen: int, timeout: float) -> None:
        """Block until a notification after the one numbered ``seen`` (see :attr:`version`), or ``timeout`` s."""
        with self.changed:
            if self.version == seen:
                self.changed.wait(timeout)

    def _start(self) -> None:  # with self._lock held
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="aerdask-monitor", daemon=True)
            self._thread.start()

    # -- callbacks (Dask's callback thread and event loop) -------------------------------
    def _done(self, future) -> None:
        handle = self._handles.get(str(future.key))
        if handle is None or handle.done() or handle.future is not future:
            return
        status = future.status
        if status == "finished":
            if handle.eager:
                self._queue.append(handle)
                self._wake.set()
                return
            handle.settle("held")
        elif status in ("error", "cancelled"):
            handle.settle(status)
        else:  # reset (its result was lost) before this ran: wait for it again
            future.add_done_callback(self._done)
            return
        self.notify()

    def _worker_removed(self, event) -> None:
        """The scheduler removed a worker: which of our tasks it ran, held queued, or held results of."""
        _, msg = event
        worker, expected = msg.get("worker"), bool(msg.get("expected"))
        for key in msg.get("processing", ()):
            handle = self._handles.get(key)
            if handle is None or handle.done():
                continue
            if self.events.worker_died(key, worker) and not expected:
                logger.warning(
                    "task %s: worker %s died while running it (%d of max_worker_deaths=%d: out of memory, a crash "
                    "in native code, or the worker was stopped); Dask runs it again",
                    key,
                    worker,
                    self.events.deaths(key),
                    handle.max_deaths,
                )
            else:
                logger.info(
                    "task %s: worker %s %s while the task waited there (it was not running); Dask runs it elsewhere",
                    key,
                    worker,
                    "retired" if expected else "died",
                )
        for key in msg.get("lost", ()):
            handle = self._handles.get(key)
            if handle is None or handle.gathered():
                continue
            handle.recomputing = worker
            logger.warning(
                "task %s: its result was lost with worker %s before it was gathered; Dask computes it again "
                "(the job reads RUNNING until it is back)",
                key,
                worker,
            )
        self.notify()

    # -- the thread -------------------------------------------------------------------------
    def _main(self) -> None:
        while True:
            self._wake.wait(_TICK_S)
            self._wake.clear()
            client = self._client()
            if client is None:
                return
            if self._cancels or self._signals:
                self._send_cancels(client)
            if self._calls:
                with self._lock:
                    calls, self._calls = self._calls, []
                for fn, args in calls:
                    try:
                        fn(*args)
                    except Exception as exc:  # noqa: BLE001 (nobody waits for it: log and go on)
                        logger.debug("%s%r failed: %s", getattr(fn, "__name__", fn), args, exc)
            batch = [self._queue.popleft() for _ in range(len(self._queue))]
            now = time.monotonic()
            batch += [h for t, h in self._retry if t <= now]
            self._retry = [(t, h) for t, h in self._retry if t > now]
            if batch:
                self._gather(client, batch)
            pending = self._pending()
            if pending and now >= self._next_health and client.status == "running":
                self._next_health = now + _HEALTH_EVERY_S
                self._health(client, pending)
            if client.status not in ("running", "newly-created", "connecting"):
                self.notify()  # handles read the lost scheduler from the client's status
            with self._lock:  # watch() registers under this lock: a handle it adds now keeps the thread
                idle = not (self._queue or self._retry or self._cancels or self._signals or self._calls)
                if idle and not [h for h in list(self._handles.values()) if h.watching()]:
                    self._thread = None
                    return

    def _pending(self) -> list:
        with self._lock:  # the dictionary changes as handles register and are collected
            return [h for h in list(self._handles.values()) if h.watching()]

    def _send_cancels(self, client) -> None:
        with self._lock:
            signals, self._signals = self._signals, []
            futures, self._cancels = self._cancels, []
        for job_id in signals:  # first stop the running tasks (their flag), then release the queued ones
            try:
                run(client, cancel_job_soon, job_id, wait=False)
            except Exception as exc:  # noqa: BLE001 (the futures are cancelled below all the same)
                logger.warning("job %s: could not signal its running tasks to stop: %s", job_id, exc)
        if futures:
            try:
                cancel(client, futures)
            except Exception as exc:  # noqa: BLE001 (the scheduler is gone: so are the tasks)
                logger.debug("cancelling %d tasks failed: %s", len(futures), exc)

    def _gather(self, client, batch: list) -> None:
        ready = []
        for handle in dict.fromkeys(batch):
            if handle.done():
                continue
            if handle.future.status == "finished":
                ready.append(handle)
            else:
                self._done(handle.future)  # erred, cancelled, or reset and waited for again
        if not ready:
            return
        try:
            bound = _GATHER_TIMEOUT_S + sum(h.output_bytes for h in ready) / _GATHER_BYTES_PER_S
            blobs = gather(client, [h.future for h in ready], timeout=bound)
        except Exception as exc:  # noqa: BLE001 (each handle is looked at again below)
            logger.debug("gathering %d results failed (%s: %s)", len(ready), type(exc).__name__, exc)
            for handle in ready:
                if handle.future.status == "finished":  # still there: the scheduler was slow or away
                    self._retry.append((time.monotonic() + _RETRY_GATHER_S, handle))
                else:
                    self._done(handle.future)
            self.notify()
            return
        for handle, blob in zip(ready, blobs, strict=True):
            handle.settle("gathered", blob)
        self.notify()

    def _health(self, client, pending: list) -> None:
        """Whether the cluster has workers, and deaths the removal events did not report."""
        try:
            info = scheduler_info(client, timeout=_HEALTH_EVERY_S * 2)
        except SchedulerTimeout as exc:
            if self.unanswered_since is None:
                self.unanswered_since = time.monotonic()
                logger.warning("%s; %d tasks wait", exc, len(pending))
            self.notify()
            return
        except Exception:  # noqa: BLE001 (the client is closing: handles read its status)
            return
        if self.unanswered_since is not None:
            logger.info("the Dask scheduler answers again")
            self.unanswered_since = None
        workers = set(info.get("workers", {}))
        now = time.monotonic()
        if workers:
            if self.no_workers_since is not None:
                logger.info("the cluster has workers again (%d)", len(workers))
            self.no_workers_since = None
        elif self.no_workers_since is None:
            self.no_workers_since = now
            logger.warning(
                "the Dask cluster has no worker: %d tasks wait for one (each fails after its job's "
                "no_worker_timeout, from now)",
                len(pending),
            )
        for key, worker in self.events.workers_gone(workers, [h.key for h in pending]):
            logger.warning("task %s: worker %s is gone while running it; Dask runs it again", key, worker)
        self.notify()


_monitors_lock = threading.Lock()


def monitor_for(client) -> ClusterMonitor:
    """The :class:`ClusterMonitor` of ``client``, made (and subscribed to its events) on first use."""
    with _monitors_lock:
        entry = state(client)
        if entry.monitor is None:
            entry.monitor = ClusterMonitor(client)
        return entry.monitor
