"""The index bit helpers against plain-Python definitions, over every small case."""

import itertools

import numpy as np
import pytest

from aerdask_kernels.kernels.bits import control_bits, gather_bits, insert_zero_bit, insert_zero_bits


def _spread(index: int, positions: list[int], width: int) -> int:
    """The ``index``-th number (ascending) of ``width`` bits whose bits at ``positions`` are 0."""
    free = [b for b in range(width) if b not in positions]
    return sum(((index >> j) & 1) << b for j, b in enumerate(free))


@pytest.mark.parametrize("p", range(5))
def test_insert_zero_bit(p):
    for index in range(32):
        assert insert_zero_bit(index, p) == _spread(index, [p], 6)


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_insert_zero_bits_lists_the_indices_with_those_bits_clear(count):
    for positions in itertools.combinations(range(6), count):
        sorted_positions = np.array(positions, dtype=np.int64)
        got = [insert_zero_bits(i, sorted_positions) for i in range(1 << (6 - count))]
        assert got == [_spread(i, list(positions), 6) for i in range(1 << (6 - count))]
        assert got == sorted(v for v in range(64) if all(not (v >> p) & 1 for p in positions))


def test_control_bits_sets_the_active_controls():
    controls = np.array([4, 1, 6], dtype=np.int64)
    for value in range(8):
        expected = sum(1 << int(q) for j, q in enumerate(controls) if (value >> j) & 1)
        assert control_bits(controls, value) == expected
    assert control_bits(np.zeros(0, dtype=np.int64), 0) == 0


def test_gather_bits_packs_the_named_bits():
    positions = np.array([5, 0, 3], dtype=np.int64)
    for index in range(64):
        packed = sum(((index >> int(q)) & 1) << b for b, q in enumerate(positions))
        assert gather_bits(index, positions, 0) == packed
        assert gather_bits(index, positions, 1) == packed & ~1  # bits from position 1 on, in place
