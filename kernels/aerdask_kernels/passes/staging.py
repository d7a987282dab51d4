"""The stage planner: which gates run together in one pass, for cache blocks and for shards.

A *stage* is a set of gate rows applied in one pass over the state, with the
state split into pieces of ``capacity`` local qubits: a cache block's buffer, or
one worker's shard. Every gate of a stage must find the qubits it *needs* local.
A gate needs only the qubits it mixes: the targets of a non-diagonal matrix. The
others are *insular* (Atlas's word): a diagonal gate's qubits and every control
act on a piece whose bit there is fixed, so the piece applies the gate with that
bit known (a phase, or the gate or nothing).

The planner works on one *run*: rows that control flow enters only at the first
and leaves only at the end (:func:`.blocking.runs`). Inside a run it may reorder
gates that commute: two gates commute when every qubit they share is insular in
both (both act diagonally there). A stage takes, in circuit order, each gate
whose needed qubits fit and which commutes with every gate skipped before it.

Two levels use it, with one difference:

* **Cache blocks** (:mod:`.blocking`). The ``fixed`` qubits (the lowest ones,
  whose amplitudes lie in contiguous runs) are local in every block, and each
  block gathers up to ``capacity - len(fixed)`` more, any ones: a block's gather
  *is* its relabelling, so a stage costs one pass and nothing between stages.
* **Shards** (a state split across workers by its highest qubits). A shard holds
  exactly its ``capacity`` local qubits, so a gate on another one first needs a
  *relabel*: an exchange that swaps some global qubits with local ones. It costs
  a pass (over the network). With ``relabel=True`` the planner chooses, when no
  pending gate fits, which qubits become local. Its candidates are the set that
  runs the most pending gates in order, and the qubits needed soonest (Belady's
  rule); it plans the rest of the run greedily from each and keeps the cheaper.

The cost is counted in passes: one per stage plus one per relabel.
:func:`fewest_passes` searches every choice on small cases, to measure how far
the greedy plan is from the best one (``benchmarks/staging.py``).
"""

from __future__ import annotations

import dataclasses
import itertools

__all__ = ["StageGate", "Stage", "Schedule", "plan_stages", "fewest_passes", "commutes"]


@dataclasses.dataclass(frozen=True)
class StageGate:
    """A gate as the planner sees it.

    Attributes:
        row: The gate's row in the program (any label the caller likes).
        needs: Qubits that must be local (targets of a non-diagonal matrix).
        insular: The gate's other qubits (controls, diagonal targets).
    """

    row: int
    needs: frozenset
    insular: frozenset

    @property
    def qubits(self) -> frozenset:
        """Every qubit of the gate."""
        return self.needs | self.insular


@dataclasses.dataclass(frozen=True)
class Stage:
    """One pass: ``rows`` (in the order they run) with ``local`` qubits local.

    ``relabel`` is True where a relabel (a shard exchange) made ``local`` the local
    set just before this stage.
    """

    local: frozenset
    rows: tuple
    relabel: bool = False


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The stages of a run, and what they cost."""

    stages: tuple

    @property
    def relabels(self) -> int:
        """Relabels (shard exchanges) between stages."""
        return sum(s.relabel for s in self.stages)

    @property
    def passes(self) -> int:
        """Passes over the state: one per stage, one per relabel."""
        return len(self.stages) + self.relabels


def commutes(a: StageGate, b: StageGate) -> bool:
    """Whether ``a`` and ``b`` commute by the planner's rule (shared qubits insular in both)."""
    return not (a.needs & b.qubits or b.needs & a.qubits)


def _size(touched, fixed: frozenset, reserve: int) -> int:
    """Local qubits a block needs: the touched ones, the fixed ones, and ``reserve`` untouched ones."""
    return len(touched | fixed) + max(0, reserve - len(fixed - touched))


def _take(pending: list, local: frozenset, capacity: int, grow: bool, reserve: int = 0, num_qubits: int = 0):
    """One stage's rows from ``pending``; returns (rows, local, left).

    With ``grow``, ``local`` gains the needs of gates that still fit in ``capacity``
    with ``reserve`` local qubits untouched (``local`` starts as the fixed set).
    Once skipped gates mix all ``num_qubits`` qubits, no later gate can move ahead.
    """
    fixed = local
    touched: frozenset = frozenset()
    taken, left = [], []
    skipped_needs: set = set()  # qubits that a skipped gate mixes
    skipped_all: set = set()  # every qubit of a skipped gate
    for i, gate in enumerate(pending):
        if num_qubits and len(skipped_needs) >= num_qubits:
            left.extend(pending[i:])
            break
        blocked = gate.qubits & skipped_needs or gate.needs & skipped_all
        fits = gate.needs <= local if not grow else _size(touched | gate.needs, fixed, reserve) <= capacity
        if blocked or not fits:
            left.append(gate)
            skipped_needs |= gate.needs
            skipped_all |= gate.qubits
            continue
        touched = touched | gate.needs
        taken.append(gate.row)
    return taken, (fixed | touched) if grow else local, left


def _soonest(pending: list, capacity: int, keep: frozenset = frozenset()) -> frozenset:
    """``capacity`` qubits: ``keep``, then those the pending gates need first (Belady's rule)."""
    chosen = list(keep)
    for gate in pending:
        for q in sorted(gate.needs - set(chosen)):
            if len(chosen) < capacity:
                chosen.append(q)
    return frozenset(chosen)


def _candidates(pending: list, local: frozenset, capacity: int, num_qubits: int) -> list:
    """Local sets worth a relabel: the one that runs the most gates in order, and Belady's."""
    _, grown, _ = _take(pending, frozenset(), capacity, True, 0, num_qubits)
    out = []
    for chosen in (grown, _soonest(pending, capacity)):
        # Pad with qubits needed soonest, then with local ones (they need not move).
        chosen = _soonest(pending, capacity, chosen)
        chosen = chosen | frozenset(sorted(local - chosen)[: capacity - len(chosen)])
        if len(chosen) < capacity and num_qubits:
            chosen = chosen | frozenset([q for q in range(num_qubits) if q not in chosen][: capacity - len(chosen)])
        if chosen not in out:
            out.append(chosen)
    return out


#: Blocks the cache-level look-ahead tries: each opened by one of the first gates that can run.
BLOCK_CANDIDATES = 4
#: How far into the pending gates the look-ahead seeks them (bounds its cost on long runs).
BLOCK_SCAN = 64


def _block_choice(pending: list, fixed: frozenset, capacity: int, reserve: int, num_qubits: int, look_ahead: bool):
    """The next block: (rows, local, left) with the most rows in it and in the block after it.

    The candidates fill the block in circuit order, but each first takes the needs of
    one of the first gates that can run, so a gate early in the circuit does not always
    decide the block's qubits.
    """
    best = _take(pending, fixed, capacity, True, reserve, num_qubits)
    if not look_ahead:
        return best
    score = lambda choice: len(choice[0]) + len(_take(choice[2], fixed, capacity, True, reserve, num_qubits)[0])  # noqa: E731
    best_score = score(best)
    seen = {best[1]}
    opened = 0
    for i, gate in enumerate(pending[:BLOCK_SCAN]):
        if opened >= BLOCK_CANDIDATES:
            break
        if not gate.needs or any(not commutes(gate, g) for g in pending[:i]):
            continue  # only a gate that can run first opens a block
        opened += 1
        choice = _take([gate] + pending[:i] + pending[i + 1 :], fixed, capacity, True, reserve, num_qubits)
        if choice[1] in seen:
            continue
        seen.add(choice[1])
        if score(choice) > best_score:
            best, best_score = choice, score(choice)
    return best


def _relabel_choice(pending: list, local: frozenset, capacity: int, num_qubits: int, look_ahead: bool) -> frozenset:
    """The next local set: the candidate whose greedy rest of the plan costs fewest passes."""
    options = _candidates(pending, local, capacity, num_qubits)
    if not look_ahead or len(options) == 1:
        return options[0]
    cost = lambda chosen: plan_stages(pending, capacity, chosen, True, num_qubits, look_ahead=False).passes  # noqa: E731
    return min(options, key=cost)


def plan_stages(
    gates: list[StageGate],
    capacity: int,
    fixed: frozenset = frozenset(),
    relabel: bool = False,
    num_qubits: int | None = None,
    reserve: int = 0,
    look_ahead: bool = True,
) -> Schedule:
    """Split a run of gates into stages.

    Args:
        gates: The run's gates in circuit order.
        capacity: Local qubits per piece (a cache block's, or a shard's).
        fixed: Without ``relabel``: qubits local in every stage (a block's lowest
            qubits). With it: the local qubits at the start (a shard's layout).
        relabel: Shards: the local set changes only by a relabel (see the module
            docstring). Without it, each stage gathers its own local set.
        num_qubits: The state's qubit count (with ``relabel``, pads a local set that
            the remaining gates do not fill).
        look_ahead: With ``relabel``: at each relabel, plan the rest greedily from each
            candidate set and take the cheapest (else the first candidate).
        reserve: Without ``relabel``: local qubits of each stage that no gate may
            need (a block keeps them for long inner loops), the fixed ones first.

    Returns:
        The schedule. A gate that needs more than ``capacity`` qubits (never with
        ``relabel``: such a gate cannot run on shards) comes alone, as a stage whose
        ``local`` is its needs.

    Raises:
        ValueError: with ``relabel``, for a gate that needs more than ``capacity`` qubits.
    """
    pending = list(gates)
    stages = []
    local = frozenset(fixed)
    while pending:
        if relabel:
            rows, _, left = _take(pending, local, capacity, False, 0, num_qubits or 0)
            moved = not rows
            if moved:  # nothing fits: exchange for the set that looks best ahead
                if len(pending[0].needs) > capacity:
                    raise ValueError(f"a gate needs {len(pending[0].needs)} local qubits; shards hold {capacity}")
                local = _relabel_choice(pending, local, capacity, num_qubits or 0, look_ahead)
                rows, _, left = _take(pending, local, capacity, False, 0, num_qubits or 0)
            stages.append(Stage(local, tuple(rows), moved))
        else:
            if _size(pending[0].needs, fixed, reserve) > capacity:  # too wide for any block
                stages.append(Stage(pending[0].needs, (pending[0].row,)))
                pending = pending[1:]
                continue
            rows, grown, left = _block_choice(pending, frozenset(fixed), capacity, reserve, num_qubits or 0, look_ahead)
            stages.append(Stage(grown, tuple(rows)))
        pending = left
    return Schedule(tuple(stages))


def fewest_passes(
    gates: list[StageGate], capacity: int, num_qubits: int, fixed: frozenset = frozenset(), relabel: bool = False
) -> int:
    """The fewest passes any schedule needs, by breadth-first search (small cases only).

    Each step picks a local set (every ``capacity``-subset of the qubits that holds
    ``fixed``, or with ``relabel`` any subset at the cost of a relabel when it
    changes) and runs every pending gate that set allows. The search space grows as
    ``C(num_qubits, capacity)`` per step: keep ``num_qubits`` below about 10.

    Raises:
        ValueError: for a gate that needs more than ``capacity`` qubits.
    """
    if any(len(g.needs | (set() if relabel else fixed)) > capacity for g in gates):
        raise ValueError("a gate needs more local qubits than a piece holds")
    others = [q for q in range(num_qubits) if relabel or q not in fixed]
    free = capacity if relabel else capacity - len(fixed)
    choices = [frozenset(c) | (frozenset() if relabel else fixed) for c in itertools.combinations(others, free)]
    start = (tuple(g.row for g in gates), frozenset(fixed))
    frontier = {start: 0}
    best = None
    by_row = {g.row: g for g in gates}
    while frontier:
        nxt: dict = {}
        for (rows, local), cost in frontier.items():
            pending = [by_row[r] for r in rows]
            for choice in choices:
                taken, _, left = _take(pending, choice, capacity, grow=False)
                if not taken:
                    continue
                step = cost + 1 + (relabel and choice != local)
                key = (tuple(g.row for g in left), choice if relabel else frozenset(fixed))
                if not left:
                    best = step if best is None else min(best, step)
                elif best is None or step < best:
                    if nxt.get(key, step + 1) > step:
                        nxt[key] = step
        frontier = nxt
    return 0 if best is None else best
