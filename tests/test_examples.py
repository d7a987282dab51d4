"""The examples run as a user runs them (the README's first command)."""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bell_example_prints_counts():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "bell.py")], capture_output=True, text=True, timeout=300, check=True
    )
    assert "DONE" in out.stdout
    assert "'00'" in out.stdout and "'11'" in out.stdout


def test_sweep_script_writes_every_point_and_resumes(tmp_path):
    output = tmp_path / "rx.jsonl"
    script = [sys.executable, str(ROOT / "examples" / "sweep_rx.py"), str(output)]
    first = subprocess.run(script, capture_output=True, text=True, timeout=300, check=True, cwd=tmp_path)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 21 and all(sum(r["counts"].values()) == r["shots"] == 2000 for r in rows)
    assert "theta=3.142" in first.stdout
    for row in rows:  # <Z> = cos(theta), within sampling error of 2000 shots
        z = (row["counts"].get("0", 0) - row["counts"].get("1", 0)) / row["shots"]
        assert abs(z - math.cos(row["theta"])) < 0.1
    again = subprocess.run(script, capture_output=True, text=True, timeout=300, check=True, cwd=tmp_path)
    assert len(output.read_text().splitlines()) == 21  # resumed: nothing ran twice
    assert "'ran': 0" in again.stdout or '"ran": 0' in again.stdout, again.stdout[-500:]
