"""The compiled cache is shared by processes: a save and a load hold its directory's lock.

Numba writes an entry as index first, data second; two processes interleaving those
steps on one function left an index naming one signature beside another's machine code
(wrong amplitudes in single precision, seen in CI with a fresh cache and a warming cluster).
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from numba.core import caching

    probes = []
    save_data = caching.IndexDataCacheFile._save_data

    def probed(self, name, data):
        # Between the index and the data: another process tries the directory's lock.
        lock = os.path.join(os.path.dirname(self._index_path), ".lock")
        probe = (
            "import fcntl, sys\\n"
            f"f = open({lock!r}, 'a+b')\\n"
            "try:\\n"
            "    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\\n"
            "except BlockingIOError:\\n"
            "    sys.exit(3)\\n"
        )
        probes.append(subprocess.run([sys.executable, "-c", probe]).returncode)
        return save_data(self, name, data)

    caching.IndexDataCacheFile._save_data = probed
    from aerdask_kernels.kernels.bits import insert_zero_bit
    from aerdask_kernels import _jit

    assert insert_zero_bit(5, 1) == 9
    print(json.dumps({"probes": probes, "cached": _jit.cache_enabled()}))
    """
)


def test_a_save_holds_the_cache_directory_against_other_processes(tmp_path):
    env_cache = {"DASK_AERDASK__NUMBA__CACHE_DIR": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path)}
    import json
    import os

    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**os.environ, **env_cache}, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["cached"] is True
    assert report["probes"] and all(code == 3 for code in report["probes"])  # refused at every save
    assert list(tmp_path.rglob("*.nbi"))  # and the entry was written
