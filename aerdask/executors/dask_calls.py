"""Calls into a Dask client that cannot block without a bound.

Every blocking call of ``distributed.Client`` (``scheduler_info``, ``run``,
``run_on_scheduler``, ``gather``, datasets) waits on the scheduler: a scheduler
that is frozen (SIGSTOP, a swapping host) or a connection that hangs would hold
the caller forever. Each helper here passes ``callback_timeout`` (Dask's own bound
for a synchronous call) and turns its expiry into :class:`SchedulerTimeout`, a
:class:`~aerdask.errors.ClusterError` that names the setting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import distributed

from .. import config
from ..errors import ClusterError

__all__ = [
    "SchedulerTimeout",
    "call_timeout",
    "scheduler_info",
    "run",
    "run_on_scheduler",
    "gather",
    "cancel",
    "bounded",
    "in_thread",
]


class SchedulerTimeout(ClusterError, TimeoutError):
    """The scheduler did not answer within its bound (``aerdask.scheduler-timeout``)."""


def call_timeout() -> float:
    """Seconds one call to the scheduler may take (``aerdask.scheduler-timeout``, default 10 s)."""
    return config.get_seconds("scheduler-timeout")


def _timeouts() -> tuple:
    # asyncio's and concurrent.futures' TimeoutError are the built-in one on Python >= 3.11;
    # Dask raises its own TimeoutError subclass for a sync call that ran out of time.
    return (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError, distributed.TimeoutError)


def bounded(client: distributed.Client, what: str, fn, *args, timeout: float | None = None, **kwargs):
    """``fn(*args, callback_timeout=..., **kwargs)``: a client method whose ``sync`` takes the bound.

    Args:
        client: The client (for the scheduler's address in the error).
        what: What the call does, for the error ("asking the scheduler for its workers").
        fn: A bound method of ``client`` that passes ``callback_timeout`` to ``Client.sync``.
        *args: Its positional arguments.
        timeout: Seconds; default :func:`call_timeout`.
        **kwargs: Its keyword arguments.

    Raises:
        SchedulerTimeout: if no answer came within ``timeout`` seconds.
    """
    limit = call_timeout() if timeout is None else max(float(timeout), 0.001)
    try:
        return fn(*args, callback_timeout=limit, **kwargs)
    except _timeouts() as exc:
        if isinstance(exc, SchedulerTimeout):
            raise
        raise SchedulerTimeout(
            f"the Dask scheduler at {_address(client)} did not answer within {limit:g} s while {what} "
            "(frozen, overloaded or unreachable; aerdask.scheduler-timeout sets the bound)"
        ) from exc


def _address(client: distributed.Client) -> str:
    try:
        return str(client.scheduler.address)
    except AttributeError:  # a closed client has no scheduler rpc
        return "(closed client)"


def scheduler_info(client: distributed.Client, timeout: float | None = None) -> dict:
    """The scheduler's identity with every worker (``Client.scheduler_info(n_workers=-1)``, bounded)."""
    info = bounded(
        client,
        "asking the scheduler for its workers",
        client.sync,
        lambda: client.scheduler.identity(n_workers=-1),
        timeout=timeout,
    )
    return dict(info)


def run(client: distributed.Client, fn, *args, timeout: float | None = None, **kwargs):
    """``Client.run(fn, *args, **kwargs)`` bounded."""
    what = f"running {getattr(fn, '__name__', fn)!s} on the workers"
    return bounded(client, what, client.run, fn, *args, timeout=timeout, **kwargs)


def run_on_scheduler(client: distributed.Client, fn, *args, timeout: float | None = None):
    """``Client.run_on_scheduler(fn, *args)`` bounded."""
    what = f"running {getattr(fn, '__name__', fn)!s} on the scheduler"
    return bounded(client, what, client.run_on_scheduler, fn, *args, timeout=timeout)


def gather(client: distributed.Client, futures: list, timeout: float | None = None) -> list:
    """The values of finished ``futures`` (one gather for all), bounded.

    A result lost with its worker makes Dask compute it again and wait for that inside
    the gather; the bound ends the wait, and the futures then read as pending until
    the result is back.
    """
    return bounded(
        client,
        f"gathering {len(futures)} results",
        client.sync,
        lambda: client.gather(futures, asynchronous=True),
        timeout=timeout,
    )


def cancel(client: distributed.Client, futures: list, timeout: float | None = None) -> None:
    """``Client.cancel(futures)`` bounded (the scheduler confirms a cancel)."""
    bounded(
        client,
        f"cancelling {len(futures)} tasks",
        client.sync,
        lambda: client.cancel(futures, asynchronous=True),
        timeout=timeout,
    )


def in_thread(client: distributed.Client, what: str, fn, *args, timeout: float | None = None):
    """``fn(*args)`` for a client method that takes no bound (``register_plugin``), bounded from outside.

    The call runs on a thread of its own; past ``timeout`` the caller gets
    :class:`SchedulerTimeout` and the call is left to finish or fail on its own.
    """
    limit = call_timeout() if timeout is None else float(timeout)
    outcome: list = []

    def call():
        try:
            outcome.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 (handed to the caller)
            outcome.append((False, exc))

    thread = threading.Thread(target=call, name="aerdask-bounded-call", daemon=True)
    thread.start()
    thread.join(limit)
    if not outcome:
        raise SchedulerTimeout(
            f"the Dask scheduler at {_address(client)} did not answer within {limit:g} s while {what} "
            "(frozen, overloaded or unreachable; aerdask.scheduler-timeout sets the bound)"
        )
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
