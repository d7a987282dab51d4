"""The examples run as a user runs them (the README's first command)."""

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
