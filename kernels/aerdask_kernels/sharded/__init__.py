"""A sharded state: one experiment's statevector split over workers (see ``docs/sharding.md``).

``engine`` holds :class:`ShardedEngine` (the walker's engine), the :class:`ShardStore`
contract and :func:`run_sharded`; ``shard_ops`` the functions a worker runs on one shard.
"""

from .engine import (
    LocalShardStore,
    ShardedEngine,
    ShardedRunner,
    ShardedState,
    ShardStore,
    max_needs,
    run_sharded,
    shard_bits,
)

__all__ = [
    "ShardStore",
    "LocalShardStore",
    "ShardedState",
    "ShardedEngine",
    "ShardedRunner",
    "run_sharded",
    "shard_bits",
    "max_needs",
]
