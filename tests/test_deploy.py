"""deploy/: the files parse and lint, jobqueue renders its scripts, and the image's commands run with TLS."""

import os
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import dask
import pytest
import yaml
from distributed import Client, Security
from qiskit import QuantumCircuit

from aerdask import AerSimulator

from .clusters import dask_command, wait_until

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
YAML_FILES = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))


def test_yaml_files_parse_and_lint():
    assert len(YAML_FILES) >= 6
    for path in YAML_FILES:
        assert list(yaml.safe_load_all(path.read_text())), path
    out = subprocess.run(
        [sys.executable, "-m", "yamllint", "-c", str(ROOT / ".yamllint"), "-f", "parsable", str(DEPLOY)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout


def test_image_definition():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert re.search(r"^USER 1000$", dockerfile, re.M)  # not root
    # A portable Numba cache, compiled at build time, where every user id can read it.
    assert "ARG NUMBA_CPU_NAME=x86-64-v3" in dockerfile and "NUMBA_CPU_NAME=${NUMBA_CPU_NAME}" in dockerfile
    assert "warm_up()" in dockerfile and "DASK_AERDASK__NUMBA__CACHE_DIR" in dockerfile
    pins = [line for line in (DEPLOY / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert pins and all(re.fullmatch(r"[a-z0-9-]+==[0-9][\w.]*", p) for p in pins), pins
    pinned = {p.split("==")[0] for p in pins}
    # the runtime, the dashboard, Jupyter for the chart and Compose, JupyterHub and dask-gateway for DaskHub
    assert {"qiskit", "numpy", "numba", "dask", "distributed", "bokeh", "jupyterlab", "jupyterhub"} <= pinned
    assert {"dask-gateway", "ipykernel", "ipywidgets", "tqdm"} <= pinned
    # Every dependency of aerdask is pinned, so the constraints file fixes a client completely.
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in project["dependencies"]}
    assert needed <= pinned, needed - pinned
    # So is every extra a notebook user of the image reaches for: tables, plots, the dashboard.
    extras = project["optional-dependencies"]
    wanted = {re.split(r"[<>=!~\[ ]", d)[0].lower() for name in ("table", "plot", "dashboard") for d in extras[name]}
    assert wanted - {"aerdask"} <= pinned, wanted - pinned


def test_compose_kubernetes_and_helm_start_workers_with_the_preload():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"scheduler", "worker", "jupyter"}
    # One image, and every service can build it (compose up --build works in any order).
    for service in compose["services"].values():
        assert service["image"] == "aerdask:0.1.0" and service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert compose["services"]["worker"]["deploy"]["replicas"] == 2
    assert "aerdask_worker" in compose["services"]["worker"]["command"]
    assert compose["services"]["jupyter"]["command"][:2] == ["jupyter", "lab"]
    cluster = yaml.safe_load((DEPLOY / "kubernetes" / "daskcluster.yaml").read_text())
    assert cluster["kind"] == "DaskCluster" and cluster["apiVersion"] == "kubernetes.dask.org/v1"
    assert "aerdask_worker" in cluster["spec"]["worker"]["spec"]["containers"][0]["args"]
    values = yaml.safe_load((DEPLOY / "helm" / "dask-values.yaml").read_text())
    assert values["worker"]["extraArgs"] == ["--preload", "aerdask_worker"]  # --nthreads: the chart's
    assert values["jupyter"]["command"] == ["jupyter", "lab"]  # not the image's default command
    image = yaml.safe_load((DEPLOY / "dask.yaml").read_text())
    assert image["distributed"]["worker"]["preload"] == ["aerdask_worker"]


CHARTS = ROOT / "tests" / "data" / "charts"


def _check_values(ours, theirs, path="") -> list[str]:
    """Keys of ``ours`` missing from the chart's ``theirs``, or of another type (chart nulls take any)."""
    problems = []
    for key, value in ours.items():
        where = f"{path}.{key}" if path else key
        if not isinstance(theirs, dict) or key not in theirs:
            problems.append(f"{where}: not a key of the chart")
            continue
        default = theirs[key]
        if default is None:
            continue
        if isinstance(default, dict):
            if not isinstance(value, dict):
                problems.append(f"{where}: the chart has a mapping, we give {type(value).__name__}")
            elif default:  # an empty mapping in the chart takes any keys (env, resources, ...)
                problems += _check_values(value, default, where)
        elif isinstance(default, bool) != isinstance(value, bool) or not isinstance(
            value,
            (int, float) if isinstance(default, (int, float)) and not isinstance(default, bool) else type(default),
        ):
            problems.append(f"{where}: the chart has {type(default).__name__}, we give {type(value).__name__}")
    return problems


@pytest.mark.parametrize(
    "ours, charts",
    [
        ("dask-values.yaml", {"": "dask-values.yaml"}),
        (
            "daskhub-values.yaml",
            {
                "": "daskhub-values.yaml",
                "jupyterhub": "jupyterhub-values.yaml",
                "dask-gateway": "dask-gateway-values.yaml",
            },
        ),
    ],
)
def test_helm_values_are_keys_of_the_charts(ours, charts):
    values = yaml.safe_load((DEPLOY / "helm" / ours).read_text())
    top = yaml.safe_load((CHARTS / charts[""]).read_text())
    assert not _check_values({k: v for k, v in values.items() if k not in charts}, top)
    for sub, chart in charts.items():
        if sub:
            assert sub in top  # daskhub's dependency
            assert not _check_values(values[sub], yaml.safe_load((CHARTS / chart).read_text())), sub
    # The checker itself finds a typo and a wrong type.
    assert _check_values(
        {"worker": {"replica": 2, "extraArgs": "x"}}, yaml.safe_load((CHARTS / "dask-values.yaml").read_text())
    ) == [
        "worker.replica: not a key of the chart",
        "worker.extraArgs: the chart has list, we give str",
    ]


@pytest.mark.parametrize(
    "kind, expected",
    [
        (
            "slurm",
            [
                "#SBATCH --exclusive",
                "#SBATCH --mem=",
                "--preload aerdask_worker",
                "export DASK_AERDASK__NUMBA__CACHE_DIR",
            ],
        ),
        ("pbs", ["#PBS -l select=1:ncpus=4:mem=16GB", "--preload aerdask_worker"]),
    ],
)
def test_jobqueue_config_renders_job_scripts(kind, expected, tmp_path):
    import dask_jobqueue

    from .clusters import jobqueue_settings

    # The config installed as its comment says, in a home of the test's own.
    settings, scheduler_options = jobqueue_settings(tmp_path / "home", kind, DEPLOY)
    # A login node is shared: TLS, and a dashboard on loopback only.
    assert scheduler_options["protocol"] == "tls" and settings["distributed.comm.require-encryption"] is True
    assert scheduler_options["dashboard_address"].startswith("127.0.0.1:")
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]
    loopback = {**scheduler_options, "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}
    with dask.config.set(settings), cls(scheduler_options=loopback) as cluster:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith("tls://"), cluster.scheduler_address
    for text in expected:
        assert text in script, script
    assert "distributed.cli.dask_worker" in script or "dask worker" in script
    assert "tls://127.0.0.1:" in script


def test_make_certs_keeps_the_ca_key_apart_and_every_key_private(tmp_path):
    import stat

    out = tmp_path / "tls"
    out.mkdir(mode=0o755)  # an existing, readable directory
    done = subprocess.run(["bash", str(DEPLOY / "tls" / "make-certs.sh"), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    pems = [f"{r}{s}.pem" for r in ("scheduler", "worker", "client") for s in ("", "-key")]
    assert names == sorted(["ca.pem", "dask-tls.yaml", *pems])
    tls = yaml.safe_load((out / "dask-tls.yaml").read_text())["distributed"]["comm"]["tls"]
    assert tls["ca-file"] == str(out / "ca.pem") and tls["worker"]["key"] == str(out / "worker-key.pem")
    assert (tmp_path / "tls-ca" / "ca-key.pem").exists()  # the CA's key is not among what the cluster gets
    assert stat.S_IMODE(out.stat().st_mode) == 0o700 and stat.S_IMODE((tmp_path / "tls-ca").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.glob("*-key.pem"))
    for role in ("scheduler", "worker", "client"):
        verify = subprocess.run(
            ["openssl", "verify", "-CAfile", str(out / "ca.pem"), str(out / f"{role}.pem")], capture_output=True
        )
        assert verify.returncode == 0, verify.stderr


def _compose_command(service):
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    command = list(compose["services"][service]["command"])
    assert command[:2] == ["dask", service]
    return command[2:]


@pytest.mark.cluster
def test_image_commands_run_with_tls_and_refuse_clients_without_certificates(tmp_path):
    security = Security.temporary()
    files = {}
    for name in ("tls_ca_file", "tls_scheduler_cert", "tls_scheduler_key", "tls_worker_cert", "tls_worker_key"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(getattr(security, name))
    scheduler_file = tmp_path / "scheduler.json"
    # The compose file's own commands, with loopback addresses and TLS added.
    scheduler_args = [
        "0" if a == "8786" else "127.0.0.1" if a == "0.0.0.0" else a for a in _compose_command("scheduler")
    ]
    scheduler_args = [a if a != ":8787" else "127.0.0.1:0" for a in scheduler_args]
    procs = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        procs.append(
            subprocess.Popen(
                [
                    *dask_command(),
                    "scheduler",
                    *scheduler_args,
                    "--protocol",
                    "tls",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--tls-ca-file",
                    str(files["tls_ca_file"]),
                    "--tls-cert",
                    str(files["tls_scheduler_cert"]),
                    "--tls-key",
                    str(files["tls_scheduler_key"]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=tmp_path,
            )
        )
        assert wait_until(scheduler_file.exists, timeout=60)
        import json

        assert wait_until(lambda: "address" in scheduler_file.read_text(), timeout=30)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        worker_args = [address if a == "tcp://scheduler:8786" else a for a in _compose_command("worker")]
        procs.append(
            subprocess.Popen(
                [
                    *dask_command(),
                    "worker",
                    *worker_args,
                    "--host",
                    "127.0.0.1",
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--tls-ca-file",
                    str(files["tls_ca_file"]),
                    "--tls-cert",
                    str(files["tls_worker_cert"]),
                    "--tls-key",
                    str(files["tls_worker_key"]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=tmp_path,
            )
        )
        with Client(address, security=security, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            qc = QuantumCircuit(2, 2)
            qc.h(0)
            qc.cx(0, 1)
            qc.measure([0, 1], [0, 1])
            counts = AerSimulator(executor=client).run(qc, seed_simulator=4).result(timeout=120).get_counts()
            assert set(counts) == {"00", "11"}
        with pytest.raises(TypeError, match="TLS expects"):
            Client(address, timeout=3)  # no TLS settings at all: cannot even start
        # A peer that trusts the CA but shows no certificate of its own: the scheduler refuses it.
        context = ssl.create_default_context(cafile=str(files["tls_ca_file"]))
        context.check_hostname = False
        host, port = address[len("tls://") :].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with pytest.raises((ssl.SSLError, ConnectionError)):
                with context.wrap_socket(raw) as tls:
                    tls.sendall(b"\0" * 8)
                    if not tls.recv(1):
                        raise ConnectionError("closed by the scheduler")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
