"""A sharded state: one experiment's statevector split over workers (see ``docs/sharding.md``).

``engine`` holds :class:`ShardedEngine` (the walker's engine), the :class:`ShardStore`
contract and :func:`run_sharded`; ``shard_ops`` the functions a worker runs on one shard.
"""

from . import engine
from .engine import *  # noqa: F403  (the package is its engine module's public names)

__all__ = list(engine.__all__)
