"""What aerdask remembers about each Dask ``Client``, kept here rather than on the client object.

Entries go away with their client (a weak reference): nothing is written onto a third-party
object, and nothing outlives the client it describes.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref

__all__ = ["ClientState", "state", "MAX_SEEN"]


@dataclasses.dataclass
class ClientState:
    """aerdask's state for one client.

    Attributes:
        ready: The cluster was checked (versions, plugin registered) by ``ensure_ready``.
        monitor: The client's ``executors.dask_monitor.ClusterMonitor``, once made.
        workers_seen: Address -> ``WorkerMemory`` of every worker seen since (the newest
            :data:`MAX_SEEN`): what admission plans for while the cluster has none.
        scaling, scaling_checked: The scheduler's scaling plan (``dask_scale``) and when it was asked.
    """

    ready: bool = False
    monitor: object = None
    workers_seen: dict = dataclasses.field(default_factory=dict)
    scaling: int | None = None
    scaling_checked: float = 0.0


#: Workers remembered per client (a cluster whose workers come and go has new addresses each time).
MAX_SEEN = 1000


_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def state(client) -> ClientState:
    """The :class:`ClientState` of ``client``, made on first use."""
    with _lock:
        found = _states.get(client)
        if found is None:
            found = _states[client] = ClientState()
        return found
