"""Every engine gives, bit for bit, what it gave when the fixtures were recorded (see tests/behaviour_cases.py)."""

import base64
import json

import numpy as np
import pytest

from .behaviour_cases import APPROXIMATE, FIXTURES, cases, run_case

RECORDED = json.loads(FIXTURES.read_text())


def test_every_case_is_recorded():
    assert set(RECORDED) == set(cases())


@pytest.mark.parametrize("name", sorted(cases()))
def test_seeded_runs_are_unchanged_bit_for_bit(name):
    again = json.loads(json.dumps(run_case(name), sort_keys=True))  # the same plain form as recorded
    recorded = RECORDED[name]
    assert len(again) == len(recorded)
    for i, (now, then) in enumerate(zip(again, recorded, strict=True)):
        assert now["method"] == then["method"] and now["kernels"] == then["kernels"], (name, i)
        if name in APPROXIMATE:
            _assert_close(now, then)
            continue
        assert now["counts"] == then["counts"], (name, i)
        assert now.get("memory") == then.get("memory"), (name, i)
        assert set(now["saves"]) == set(then["saves"]), (name, i)
        for label in then["saves"]:
            assert now["saves"][label] == then["saves"][label], (name, i, label)


def _values(saved):
    if isinstance(saved, dict) and "b64" in saved:
        return np.frombuffer(base64.b64decode(saved["b64"]), dtype=saved["dtype"]).reshape(saved["shape"])
    return np.asarray(saved)


def _assert_close(now: dict, then: dict) -> None:
    """Single precision: saves to float32 accuracy, counts to their sampling noise."""
    for label, saved in then["saves"].items():
        np.testing.assert_allclose(_values(now["saves"][label]), _values(saved), rtol=1e-5, atol=1e-6)
    shots = sum(then["counts"].values())
    keys = set(now["counts"]) | set(then["counts"])
    distance = sum(abs(now["counts"].get(k, 0) - then["counts"].get(k, 0)) for k in keys) / (2 * shots)
    assert distance < 0.02, distance
