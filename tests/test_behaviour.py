"""Every engine gives, bit for bit, what it gave when the fixtures were recorded (see tests/behaviour_cases.py)."""

import json

import pytest

from .behaviour_cases import FIXTURES, cases, run_case

RECORDED = json.loads(FIXTURES.read_text())


def test_every_case_is_recorded():
    assert set(RECORDED) == set(cases())


@pytest.mark.parametrize("name", sorted(cases()))
def test_seeded_runs_are_unchanged_bit_for_bit(name):
    again = json.loads(json.dumps(run_case(name), sort_keys=True))  # the same plain form as recorded
    recorded = RECORDED[name]
    assert len(again) == len(recorded)
    for i, (now, then) in enumerate(zip(again, recorded, strict=True)):
        assert now["method"] == then["method"], (name, i)
        assert now["counts"] == then["counts"], (name, i)
        assert now.get("memory") == then.get("memory"), (name, i)
        assert set(now["saves"]) == set(then["saves"]), (name, i)
        for label in then["saves"]:
            assert now["saves"][label] == then["saves"][label], (name, i, label)
