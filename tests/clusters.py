"""Real Dask clusters for the tests: ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dask_command(python: str | None = None) -> list[str]:
    """The ``dask`` CLI of this environment, or ``python -m dask`` for another interpreter."""
    if python is None:
        script = Path(sys.executable).parent / "dask"
        return [str(script)] if script.exists() else [shutil.which("dask") or "dask"]
    return [python, "-m", "dask"]


#: Environment for a worker whose small ``--memory-limit`` stands for a small machine: its imports
#: alone (~235 MiB) reach the 80% at which Dask pauses a 300 MiB worker, and a paused worker never
#: counts as arrived for ``Client.wait_for_workers``.
NO_PAUSE = {"DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE": "False"}


class CliCluster:
    """A scheduler and workers started as separate processes, stopped with real signals.

    Args:
        workdir: Directory for the scheduler file and the logs.
        n_workers: Workers to start.
        nthreads: Threads per worker.
        preload: Start workers with ``--preload aerdask_worker``.
        memory_limit: Each worker's ``--memory-limit``.
        worker_python: Interpreter for the workers (another environment); default this one.
        worker_env: Extra environment for the workers.
        preload_module: What ``preload`` passes to ``--preload`` (a module or a file).
        nanny: Start workers under a nanny (``--no-nanny`` otherwise: a killed worker stays dead).
    """

    def __init__(
        self,
        workdir: Path,
        n_workers: int = 2,
        nthreads: int = 1,
        preload: bool = True,
        memory_limit: str = "4GiB",
        worker_python: str | None = None,
        worker_env: dict | None = None,
        preload_module: str = "aerdask_worker",
        nanny: bool = True,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = self.workdir / "scheduler.json"
        self.n_workers, self.nthreads, self.preload = n_workers, nthreads, preload
        self.memory_limit = memory_limit
        self.worker_python = worker_python
        self.worker_env = worker_env
        self.preload_module = preload_module
        self.nanny = nanny
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, args, name, env=None, cwd=None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115  (closed by the process exiting)
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd or self.workdir)

    def start_scheduler(self, port: int = 0) -> str:
        args = [*dask_command(), "scheduler", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(self.scheduler_file)]
        self.scheduler_file.unlink(missing_ok=True)
        self.scheduler = self._spawn(args, "scheduler")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.scheduler_file.exists():
                try:
                    return json.loads(self.scheduler_file.read_text())["address"]
                except (json.JSONDecodeError, KeyError):
                    pass
            if self.scheduler.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"scheduler did not start: {(self.workdir / 'scheduler.log').read_text()[-2000:]}")

    @property
    def address(self) -> str:
        return json.loads(self.scheduler_file.read_text())["address"]

    def start_worker(
        self, name: str, memory_limit: str | None = None, nanny: bool | None = None, env: dict | None = None
    ) -> subprocess.Popen:
        args = [*dask_command(self.worker_python), "worker", self.address, "--host", "127.0.0.1"]
        args += ["--nthreads", str(self.nthreads), "--name", name, "--memory-limit", memory_limit or self.memory_limit]
        if not (self.nanny if nanny is None else nanny):
            args.append("--no-nanny")
        args += ["--dashboard-address", "127.0.0.1:0", "--death-timeout", "60"]
        if self.preload:
            args += ["--preload", self.preload_module]
        environ = dict(os.environ)
        if self.worker_python is None:
            environ["PYTHONPATH"] = str(ROOT)  # test helpers are importable on workers, as on a LocalCluster
        environ.update(self.worker_env or {})
        environ.update(env or {})
        proc = self._spawn(args, name, env=environ)
        self.workers.append(proc)
        return proc

    def start(self) -> CliCluster:
        self.start_scheduler()
        for i in range(self.n_workers):
            self.start_worker(f"w{i}")
        return self

    def kill_workers(self) -> int:
        """SIGKILL every worker process started here (with ``nanny=False``: the workers themselves)."""
        killed = 0
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                killed += 1
        return killed

    def kill_scheduler(self) -> None:
        if self.scheduler and self.scheduler.poll() is None:
            self.scheduler.send_signal(signal.SIGKILL)
            self.scheduler.wait(10)

    def stop(self) -> None:
        # The workers first, together, then the scheduler: a worker whose scheduler went first
        # spends seconds trying to say goodbye.
        for group in (self.workers, [self.scheduler] if self.scheduler else []):
            for proc in group:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in group:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@contextlib.contextmanager
def local_client(n_workers: int = 2, threads_per_worker: int = 1, processes: bool = True, **kwargs):
    """A ``Client`` on a fresh ``LocalCluster`` (on 127.0.0.1 with processes), closed on exit."""
    from distributed import Client, LocalCluster

    if processes:
        kwargs.setdefault("host", "127.0.0.1")  # in-process clusters talk over inproc://, not an address
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address="127.0.0.1:0",
            **kwargs,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def flat_settings(tree: dict, prefix: str = "") -> dict:
    """A nested Dask config as ``dask.config.set`` keys (``{"distributed.comm.tls.ca-file": ...}``)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat_settings(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def jobqueue_settings(home: Path, kind: str, deploy: Path, **sizes) -> tuple[dict, dict]:
    """``deploy/jobqueue.yaml`` installed as its comment says, in ``home``: certificates, TLS settings.

    Returns:
        ``(settings, scheduler_options)``: the Dask settings a login node would read (key by key,
        so jobqueue's own defaults stay), and the config's scheduler options.
    """
    import yaml

    tls = home / ".config" / "aerdask" / "tls"
    subprocess.run(["bash", str(deploy / "tls" / "make-certs.sh"), str(tls)], check=True, capture_output=True)
    config_dir = home / ".config" / "dask"
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(deploy / "jobqueue.yaml", config_dir / "jobqueue.yaml")
    shutil.copy(tls / "dask-tls.yaml", config_dir / "dask-tls.yaml")
    config = yaml.safe_load((deploy / "jobqueue.yaml").read_text())
    options = {**config["jobqueue"][kind], **sizes}
    settings = {f"jobqueue.{kind}.{k}": v for k, v in options.items()}
    settings.update(flat_settings({"distributed": config["distributed"]}))
    settings.update(flat_settings(yaml.safe_load((tls / "dask-tls.yaml").read_text())))
    return settings, options["scheduler-options"]
