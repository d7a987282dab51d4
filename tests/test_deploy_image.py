"""deploy/ as its consumers run it, in the image's environment built as the Dockerfile builds it.

Docker, Kubernetes and a batch queue cannot run here. So the image's environment is installed
into a fresh venv by ``deploy/install-image.sh``, the script the Dockerfile runs (pinned
``requirements.txt``, then the project), and in it each consumer's own command line is run on
127.0.0.1: the dask Helm chart's, dask-gateway's, the Compose services' and dask-jobqueue's. Only
addresses and ports are changed (to loopback and free ports). The client is this test process:
a plain ``pip install -e .`` environment with another numpy than the image, which the cluster
must accept.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
import pytest
import yaml
from distributed import Client, Security
from qiskit import QuantumCircuit

from aerdask import AerSimulator
from aerdask_kernels import _jit

from .clusters import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


@dataclass
class ImageEnv:
    python: Path
    bin: Path
    prefix: Path


@pytest.fixture(scope="module")
def image_env(tmp_path_factory) -> ImageEnv:
    """A venv with what the Dockerfile installs, by the same script and steps.

    ``AERDASK_TEST_IMAGE_ENV`` names one built before (to iterate on these tests without reinstalling).
    """
    prebuilt = os.environ.get("AERDASK_TEST_IMAGE_ENV")
    if prebuilt:
        return ImageEnv(Path(prebuilt) / "bin" / "python", Path(prebuilt) / "bin", Path(prebuilt))
    venv = tmp_path_factory.mktemp("image") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    for step in ("deps", "project"):  # the Dockerfile's two RUN steps
        out = subprocess.run(
            ["sh", str(DEPLOY / "install-image.sh"), step, str(python), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return ImageEnv(python, venv / "bin", venv)


class Processes:
    """Processes of one test, logged to files and stopped at the end."""

    def __init__(self, workdir: Path, env: dict):
        self.workdir, self.env, self.procs = workdir, env, []

    def start(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115  (closed when the process exits)
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env={**self.env, **(env or {})}, cwd=self.workdir
        )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        # Last started first: workers leave while their scheduler still answers (a worker whose
        # scheduler went first spends seconds trying to say goodbye).
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def procs(tmp_path, image_env):
    # The image's environment: its own bin first (dask-scheduler, dask-worker, jupyter), and the
    # Numba cache this test session already filled (the kernel sources are the same files).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DASK_"))}
    env["PATH"] = f"{image_env.bin}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)  # no user-level Dask or Jupyter settings of this machine
    env.setdefault("XDG_CACHE_HOME", os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")))
    running = Processes(tmp_path, env)
    try:
        yield running
    finally:
        running.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    def accepting():
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    assert wait_until(accepting, timeout=timeout, interval=0.2), f"nothing listens on {port}"


def as_container_user(command: list[str]) -> list[str]:
    """The image runs as uid 1000; where these tests run as root, Jupyter must be told it is fine."""
    return [*command, "--allow-root"] if os.geteuid() == 0 else command


def http_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def run_bell_job(client: Client, caplog) -> None:
    """A job from this (plain ``pip install -e .``) environment: accepted, with a warning on numpy."""
    with caplog.at_level("WARNING", logger="aerdask"):
        result = AerSimulator(executor=client).run(bell(), shots=400, seed_simulator=3).result(timeout=180)
    assert result.get_counts() == AerSimulator().run(bell(), shots=400, seed_simulator=3).result().get_counts()
    theirs = client.run(lambda: __import__("numpy").__version__)
    assert set(theirs.values()) == {"2.2.6"}  # the image's pin
    if np.__version__ != "2.2.6":
        assert f"numpy: client {np.__version__}, worker 2.2.6" in caplog.text


def preloaded(client: Client) -> dict:
    """Which workers ran the aerdask preload (it starts compiling the kernels on the worker)."""
    return client.run(lambda dask_worker: getattr(dask_worker, "aerdask_compiling", False))


def test_image_environment_matches_the_dockerfile(image_env):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "install-image.sh deps python /src" in dockerfile and "install-image.sh project python /src" in dockerfile
    for command in ("dask-scheduler", "dask-worker", "dask", "jupyter", "jupyterhub-singleuser"):
        assert (image_env.bin / command).exists(), command
    out = subprocess.run(
        [
            str(image_env.python),
            "-c",
            "import dask, dask_gateway, bokeh, tqdm, ipywidgets, aerdask_kernels, aerdask; "
            "print(dask.config.get('distributed.worker.preload'))",
        ],
        capture_output=True,
        text=True,
        env={"HOME": "/nonexistent", "PATH": os.environ["PATH"]},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['aerdask_worker']"  # every worker of the image preloads
    constraints = image_env.prefix / "share" / "aerdask" / "constraints.txt"
    assert constraints.read_text() == (DEPLOY / "requirements.txt").read_text()


def test_dask_helm_chart_scheduler_worker_and_jupyter(image_env, procs, caplog):
    values = yaml.safe_load((DEPLOY / "helm" / "dask-values.yaml").read_text())
    worker = values["worker"]
    port, dashboard, jupyter_port = free_port(), free_port(), free_port()
    # dask/helm-chart e25bf51, dask/templates/dask-scheduler-deployment.yaml: the container's args.
    scheduler_args = ["dask-scheduler", "--port=8786", "--dashboard-address=:8787"]
    scheduler_args += values["scheduler"].get("extraArgs", [])
    scheduler_args = [a.replace("8786", str(port)).replace(":8787", f"127.0.0.1:{dashboard}") for a in scheduler_args]
    scheduler = procs.start("scheduler", [*scheduler_args, "--host", "127.0.0.1"])
    wait_for_port(port, scheduler)
    address = f"127.0.0.1:{port}"  # the chart's <release>-scheduler:8786 service
    # dask/templates/dask-worker-deployment.yaml: worker.image.dask_worker (the chart's default
    # "dask-worker" unless set), the scheduler, --nthreads and --memory-limit from the limits, the
    # worker dashboard, then extraArgs.
    limits = worker["resources"]["limits"]
    worker_args = [worker["image"].get("dask_worker", "dask-worker"), address]
    worker_args += ["--nthreads", str(worker.get("threads_per_worker", limits["cpu"]))]
    worker_args += ["--memory-limit", limits["memory"]]
    worker_args += ["--no-dashboard", "--dashboard-address", "127.0.0.1:0", *worker["extraArgs"]]
    assert worker_args.count("--nthreads") == 1
    procs.start("worker", [*worker_args, "--host", "127.0.0.1"])
    # dask/templates/dask-jupyter-deployment.yaml: jupyter.command and jupyter.args, with the chart's
    # DASK_SCHEDULER_ADDRESS.
    jupyter = [*values["jupyter"]["command"], *values["jupyter"]["args"]]
    jupyter = [re.sub(r"^--ip=.*", "--ip=127.0.0.1", a) for a in jupyter]
    jupyter = [re.sub(r"^--port=.*", f"--port={jupyter_port}", a) for a in jupyter]
    lab = procs.start("jupyter", as_container_user(jupyter), env={"DASK_SCHEDULER_ADDRESS": address})
    with Client(address, timeout=60) as client:
        client.wait_for_workers(1, timeout=120)
        assert all(preloaded(client).values())
        run_bell_job(client, caplog)
        # The dashboard: bokeh is in the image.
        assert http_get(f"http://127.0.0.1:{dashboard}/status") == 200
        # A user in the chart's Jupyter: the notebook connects through DASK_SCHEDULER_ADDRESS.
        notebook = procs.workdir / "tour.ipynb"
        out = subprocess.run(
            ["jupyter", "nbconvert", "--to", "notebook", "--execute", str(ROOT / "examples" / "aerdask_tour.ipynb")]
            + ["--output", str(notebook), "--ExecutePreprocessor.timeout=600"],
            capture_output=True,
            text=True,
            env={**procs.env, "DASK_SCHEDULER_ADDRESS": address},
            cwd=procs.workdir,
            timeout=900,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        executed = json.loads(notebook.read_text())
        texts = [o.get("data", {}).get("text/plain", "") for o in executed["cells"][1]["outputs"]]
        first = "".join("".join(t) if isinstance(t, list) else t for t in texts)
        assert f"tcp://{address}" in first  # the chart's scheduler, not a LocalCluster
    wait_for_port(jupyter_port, lab)
    assert http_get(f"http://127.0.0.1:{jupyter_port}/api") == 200


def test_dask_gateway_scheduler_and_worker_commands(image_env, procs, tmp_path, caplog):
    values = yaml.safe_load((DEPLOY / "helm" / "daskhub-values.yaml").read_text())["dask-gateway"]["gateway"]["backend"]
    security = Security.temporary()
    tls = {}
    for name in ("tls_ca_file", "tls_scheduler_cert", "tls_scheduler_key"):
        tls[name] = tmp_path / f"{name}.pem"
        tls[name].write_text(getattr(security, name))
    (tmp_path / "api-token").write_text("not-a-real-token")
    port = free_port()
    # dask/dask-gateway 2026.3.0, dask_gateway_server/backends/kubernetes/controller.py, get_env():
    # backend.environment plus the gateway's own variables (TLS from the cluster's secret).
    env = {
        **{k: str(v) for k, v in values["environment"].items()},
        "DASK_GATEWAY_API_URL": "http://127.0.0.1:9/api",  # heartbeats are off (period 0): never called
        "DASK_GATEWAY_CLUSTER_NAME": "default.test",
        "DASK_GATEWAY_API_TOKEN": str(tmp_path / "api-token"),
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(tls["tls_ca_file"]),
        "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__CERT": str(tls["tls_scheduler_cert"]),
        "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY": str(tls["tls_scheduler_key"]),
        "DASK_DISTRIBUTED__COMM__TLS__WORKER__CERT": str(tls["tls_scheduler_cert"]),
        "DASK_DISTRIBUTED__COMM__TLS__WORKER__KEY": str(tls["tls_scheduler_key"]),
    }
    # get_scheduler_command(): scheduler_cmd (default "dask-scheduler") and its arguments.
    scheduler_cmd = ["dask-scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port)]
    scheduler_cmd += ["--dashboard-address", "127.0.0.1:0", "--dg-api-address", "127.0.0.1:0"]
    scheduler_cmd += ["--preload", "dask_gateway.scheduler_preload", "--dg-heartbeat-period", "0"]
    scheduler_cmd += ["--dg-adaptive-period", "3.0", "--dg-idle-timeout", "0.0"]
    scheduler = procs.start("scheduler", scheduler_cmd, env=env)
    wait_for_port(port, scheduler)
    # get_worker_command(): worker_cmd (default "dask-worker"), the scheduler, and its arguments.
    worker_cmd = ["dask-worker", f"tls://127.0.0.1:{port}", "--dashboard-address", "127.0.0.1:0"]
    worker_cmd += ["--name", "dask-worker-test", "--nthreads", str(values["worker"]["threads"])]
    worker_cmd += ["--memory-limit", str(values["worker"]["memory"]["limit"]), "--host", "127.0.0.1"]
    procs.start("worker", worker_cmd, env=env)
    client_security = Security(
        tls_ca_file=str(tls["tls_ca_file"]),
        tls_client_cert=str(tls["tls_scheduler_cert"]),
        tls_client_key=str(tls["tls_scheduler_key"]),
        require_encryption=True,
    )
    with Client(f"tls://127.0.0.1:{port}", security=client_security, timeout=60) as client:
        client.wait_for_workers(1, timeout=120)
        assert "gateway" in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.services))
        assert all(preloaded(client).values())  # from the image's settings: the gateway passes no --preload
        run_bell_job(client, caplog)


def _compose_service(name: str) -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"][name]


def test_compose_services(image_env, procs, caplog):
    port, dashboard, jupyter_port = free_port(), free_port(), free_port()
    loopback = {"0.0.0.0": "127.0.0.1", "8786": str(port), ":8787": f"127.0.0.1:{dashboard}"}
    scheduler = procs.start("scheduler", [loopback.get(a, a) for a in _compose_service("scheduler")["command"]])
    wait_for_port(port, scheduler)
    address = f"tcp://127.0.0.1:{port}"
    worker = [address if a == "tcp://scheduler:8786" else a for a in _compose_service("worker")["command"]]
    procs.start("worker", [*worker, "--host", "127.0.0.1"])
    jupyter_service = _compose_service("jupyter")
    jupyter = [{"0.0.0.0": "127.0.0.1", "8888": str(jupyter_port)}.get(a, a) for a in jupyter_service["command"]]
    env = {k: v.replace("tcp://scheduler:8786", address) for k, v in jupyter_service["environment"].items()}
    assert env == {"DASK_SCHEDULER_ADDRESS": address}
    lab = procs.start("jupyter", as_container_user(jupyter), env=env)
    with Client(address, timeout=60) as client:
        client.wait_for_workers(1, timeout=120)
        run_bell_job(client, caplog)
        assert http_get(f"http://127.0.0.1:{dashboard}/status") == 200
        # In the jupyter service's environment, the CLI finds the scheduler through DASK_SCHEDULER_ADDRESS.
        out = subprocess.run(
            ["aerdask", "run", str(ROOT / "examples" / "bell.qasm"), "--json", "--seed", "3"],
            capture_output=True,
            text=True,
            env={**procs.env, **env},
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert set(json.loads(out.stdout)[0]["counts"]) == {"00", "11"}
    wait_for_port(jupyter_port, lab)
    assert http_get(f"http://127.0.0.1:{jupyter_port}/api") == 200


def test_jobqueue_job_script_runs_a_worker(image_env, procs, caplog):
    import dask_jobqueue

    config = yaml.safe_load((DEPLOY / "jobqueue.yaml").read_text())["jobqueue"]["slurm"]
    # The site-specific sizes scaled to this machine; everything else as shipped. The job script
    # runs the image environment's python, as a cluster's shared environment would.
    config.update(cores=1, processes=1, memory="2GiB", python=str(image_env.python))
    with dask.config.set({f"jobqueue.slurm.{k}": v for k, v in config.items()}):
        with dask_jobqueue.SLURMCluster(scheduler_options={"host": "127.0.0.1", "dashboard_address": ":0"}) as cluster:
            script = cluster.job_script()
            assert "--preload aerdask_worker" in script and str(image_env.python) in script
            assert "export DASK_AERDASK__NUMBA__CACHE_DIR=$HOME/.cache/aerdask" in script
            path = procs.workdir / "job.sh"
            path.write_text(script)
            # $HOME/.cache/aerdask: this session's cache, as a shared home directory would hold it.
            (procs.workdir / ".cache").mkdir()
            (procs.workdir / ".cache" / "aerdask").symlink_to(_jit._cache_root().parent)
            procs.start("job", ["bash", str(path)], env={"HOME": str(procs.workdir)})
            with Client(cluster, timeout=60) as client:
                client.wait_for_workers(1, timeout=120)
                assert all(preloaded(client).values())
                run_bell_job(client, caplog)


def test_operator_manifest_commands_run(image_env, procs, caplog):
    manifest = yaml.safe_load((DEPLOY / "kubernetes" / "daskcluster.yaml").read_text())["spec"]
    port = free_port()
    scheduler_args = [*manifest["scheduler"]["spec"]["containers"][0]["args"], "--host", "127.0.0.1"]
    scheduler_args += ["--port", str(port), "--dashboard-address", "127.0.0.1:0"]
    scheduler = procs.start("scheduler", scheduler_args)
    wait_for_port(port, scheduler)
    # The operator passes the scheduler's address in DASK_SCHEDULER_ADDRESS and sets DASK_WORKER_NAME.
    address = f"tcp://127.0.0.1:{port}"
    args = [a.replace("$(DASK_WORKER_NAME)", "worker-0") for a in manifest["worker"]["spec"]["containers"][0]["args"]]
    procs.start("worker", [*args, "--host", "127.0.0.1"], env={"DASK_SCHEDULER_ADDRESS": address})
    with Client(address, timeout=60) as client:
        client.wait_for_workers(1, timeout=120)
        run_bell_job(client, caplog)
