"""Dask's conventions: settings in dask.config, readable task keys and spans, logging, the scheduler address."""

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import dask
import pytest
import yaml
from dask.utils import key_split
from qiskit import QuantumCircuit

from aerdask import AerSimulator, config
from aerdask.job import task_prefix
from aerdask_kernels import settings

from .clusters import wait_until

ROOT = Path(__file__).resolve().parents[1]
AERDASK = [sys.executable, "-m", "aerdask.cli"]


def _flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_yaml_defaults_hold_every_kernel_setting_with_its_default():
    shipped = _flatten(yaml.safe_load(config.DEFAULTS_FILE.read_text())["aerdask"])
    kernel_keys = {k: v for k, v in shipped.items() if k.split(".")[0] in ("numba", "kernels")}
    assert kernel_keys == settings.DEFAULTS
    assert config.get_seconds("worker-timeout") == 600.0  # pods and batch queues take minutes


def test_settings_follow_dask_config_and_its_environment_variables(monkeypatch):
    assert settings.get_int("kernels.block-qubits") == 15
    with dask.config.set({"aerdask.kernels.block-qubits": 12}):
        assert settings.get_int("kernels.block-qubits") == 12
    with dask.config.set({"aerdask.worker-timeout": "2 minutes"}):
        assert config.get_seconds("worker-timeout") == 120.0
    # A process without dask (a worker's kernels before Dask starts, a plain script): the variable itself.
    code = (
        "import sys; from aerdask_kernels import settings; "
        "print(settings.get_int('kernels.block-min-qubits'), settings.get_bool('numba.cache'), 'dask' in sys.modules)"
    )
    env = {**os.environ, "DASK_AERDASK__KERNELS__BLOCK_MIN_QUBITS": "21", "DASK_AERDASK__NUMBA__CACHE": "False"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["21", "False", "False"], out.stderr
    monkeypatch.setenv("DASK_AERDASK__KERNELS__BLOCK_QUBITS", "abc")
    with pytest.raises(ValueError, match=r"aerdask.kernels.block-qubits \(DASK_AERDASK__KERNELS__BLOCK_QUBITS\)"):
        # dask.config holds the value it read at import; the variable is read where dask has no value.
        with dask.config.set({"aerdask.kernels": {}}):
            settings.get_int("kernels.block-qubits")


def test_the_kernels_read_the_environment_in_one_place():
    offenders = []
    for path in sorted((ROOT / "kernels" / "aerdask_kernels").glob("*.py")):
        for line in path.read_text().splitlines():
            if re.search(r"os\.environ|getenv", line) and path.name != "settings.py":
                offenders.append(f"{path.name}: {line.strip()}")
    # Numba's, OpenMP's and the XDG base directory's own variables only.
    assert offenders and all(re.search(r"NUMBA_|OMP_NUM_THREADS|XDG_CACHE_HOME", o) for o in offenders), offenders


def test_task_keys_group_by_job_in_the_dashboard():
    job_id = "3f2a9c1b-0d4e-4c2b-9a7e-1234567890ab"
    prefix = task_prefix(job_id)
    assert re.fullmatch(r"aerdask-[a-z]{6}", prefix) and prefix != task_prefix("4f2a9c1b-0d4e-4c2b-9a7e-1234567890ab")
    for i in (0, 17):
        assert key_split(f"{prefix}-{job_id}-{i}") == prefix  # Dask's own grouping


@pytest.mark.cluster
def test_a_job_is_a_task_group_and_a_span_on_the_scheduler(local_cluster_client):
    job = AerSimulator(executor=local_cluster_client).run(
        [QuantumCircuit(2) for _ in range(6)], max_job_size=2, keep=True
    )
    job.result()

    def groups(dask_scheduler=None):
        spans = dask_scheduler.extensions["spans"].spans
        return {
            key: (ts.prefix.name, [spans[s].name for s in ts.annotations.get("span", {}).get("ids", ())])
            for key, ts in dask_scheduler.tasks.items()
        }

    mine = {k: v for k, v in local_cluster_client.run_on_scheduler(groups).items() if job.job_id() in str(k)}
    assert len(mine) == 3
    assert all(v == (job.task_prefix, [(job.task_prefix,)]) for v in mine.values()), mine
    job.unpublish()


def test_jobs_log_submission_and_cancel(caplog):
    from .test_job import slow_circuit

    with caplog.at_level(logging.DEBUG, logger="aerdask"):
        job = AerSimulator().run([slow_circuit(16, 200)] * 2, max_job_size=1)
        assert wait_until(lambda: job.status().name == "RUNNING", timeout=60)
        job.cancel()
    text = caplog.text
    assert f"job {job.job_id()}: submitted 2 experiments as 2 tasks ({job.task_prefix}-*)" in text
    assert f"task {job.task_prefix}-{job.job_id()}-1: 1 experiments" in text
    assert re.search(rf"job {job.job_id()}: cancelled \(\d tasks running, \d queued\)", text)


@pytest.mark.cluster
def test_cli_finds_the_scheduler_from_dask_settings_or_a_scheduler_file(cli_cluster):
    bell = str(ROOT / "examples" / "bell.qasm")
    env = {**os.environ, "DASK_SCHEDULER_ADDRESS": cli_cluster.address}
    via_env = subprocess.run(
        [*AERDASK, "run", bell, "--json", "--seed", "4"], env=env, capture_output=True, text=True, timeout=120
    )
    via_file = subprocess.run(
        [*AERDASK, "run", bell, "--json", "--seed", "4", "--scheduler-file", str(cli_cluster.scheduler_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    local = subprocess.run(
        [*AERDASK, "run", bell, "--json", "--seed", "4", "--scheduler", "local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert via_env.returncode == via_file.returncode == local.returncode == 0, via_env.stderr + via_file.stderr
    assert json.loads(via_env.stdout) == json.loads(via_file.stdout) == json.loads(local.stdout), (
        via_env.stdout,
        via_file.stdout,
        local.stdout,
    )
    missing = subprocess.run(
        [*AERDASK, "run", bell, "--scheduler-file", "/no/such/scheduler.json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "cannot reach the Dask scheduler in /no/such/scheduler.json" in missing.stderr


@pytest.mark.cluster
def test_cluster_command_with_tls_refuses_plain_clients(tmp_path):
    import socket
    import stat

    from cryptography import x509

    tls_dir = tmp_path / "tls"
    tls_dir.mkdir(mode=0o755)  # an existing directory readable by all: --tls must close it
    proc = subprocess.Popen(
        [*AERDASK, "cluster", "--workers", "1", "--port", "0", "--dashboard-port", "0", "--tls"]
        + ["--tls-dir", str(tls_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("scheduler: tls://127.0.0.1:"), lines
        # The dashboard is TLS too (Dask serves one only with bokeh; else the line says what to install).
        served = importlib.util.find_spec("bokeh") is not None
        assert lines[1].startswith("dashboard: https://" if served else "dashboard: needs bokeh"), lines
        address = lines[0].split()[1]
        host, port = address.removeprefix("tls://").rsplit(":", 1)
        dask_config = lines[3].split("DASK_CONFIG=")[1].split()[0]
        # One certificate per role, from one CA whose key was never written; keys readable by the owner only.
        subjects = {
            role: x509.load_pem_x509_certificate((tls_dir / f"{role}.pem").read_bytes()).subject.rfc4514_string()
            for role in ("scheduler", "worker", "client")
        }
        assert len(set(subjects.values())) == 3, subjects
        assert not [p for p in tls_dir.iterdir() if "ca" in p.name and "key" in p.name]
        assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tls_dir.glob("*-key.pem"))
        bell = str(ROOT / "examples" / "bell.qasm")
        env = {**os.environ, "DASK_CONFIG": dask_config}

        def run_with_certificates():
            out = subprocess.run(
                [*AERDASK, "run", bell, "--json", "--scheduler", address], env=env, capture_output=True, text=True
            )
            assert out.returncode == 0, out.stderr
            assert set(json.loads(out.stdout)[0]["counts"]) <= {"00", "11"}

        run_with_certificates()
        with socket.create_connection((host, int(port)), timeout=10):
            pass  # the scheduler listens there: what follows is a refusal, not an empty port
        plain = subprocess.run([*AERDASK, "run", bell, "--scheduler", address], capture_output=True, text=True)
        assert plain.returncode == 1 and "cannot reach the Dask scheduler" in plain.stderr
        run_with_certificates()  # and it still serves clients that have the certificate
    finally:
        proc.terminate()
        proc.wait(60)


def test_client_state_lives_in_a_registry_and_collections_are_bounded():
    import aerdask_worker as dask_worker
    from aerdask.executors.dask_monitor import TaskEvents
    from aerdask.executors.registry import state

    class FakeClient:  # any object that can be weakly referenced
        pass

    client = FakeClient()
    state(client).ready = True
    assert state(client).ready and not hasattr(client, "_aerdask_ready")
    started = TaskEvents()
    for i in range(started.MAX_KEYS + 10):
        started((None, {"key": f"k{i}", "worker": "w"}))
    assert len(started.starts) == started.MAX_KEYS and "k0" not in started and f"k{started.MAX_KEYS + 9}" in started
    for i in range(dask_worker.MAX_CANCELLED + 5):
        dask_worker.cancel_job(f"job-{i}")
    assert len(dask_worker._cancelled) == dask_worker.MAX_CANCELLED and "job-0" not in dask_worker._cancelled
    dask_worker._cancelled.clear()
