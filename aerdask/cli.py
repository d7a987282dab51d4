"""The ``aerdask`` command: ``run`` circuit files, ``sweep`` parameters, ``plot`` a sweep, start a local ``cluster``.

Every command has ``--help``; ``aerdask --version`` prints the version. Bad input (a
missing file, a QASM error, an unreachable scheduler) prints one line to stderr and
exits non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading

from aerdask_kernels import __version__

from .errors import AerdaskError

__all__ = ["main"]

EXIT_ERROR, EXIT_INTERRUPTED = 1, 130


def _client(args):
    """The Dask client ``--scheduler`` or ``--scheduler-file`` name, else Dask's ``scheduler-address``.

    ``DASK_SCHEDULER_ADDRESS`` (which the dask Helm chart's Jupyter sets) is Dask's way of
    naming a default scheduler; with none of these the jobs run on the local thread pool.
    """
    address, scheduler_file = args.scheduler, args.scheduler_file
    if address == "local":
        return contextlib.nullcontext(None)
    if not address and not scheduler_file:
        import dask.config

        address = dask.config.get("scheduler-address", None)
        if not address:
            return contextlib.nullcontext(None)
    from distributed import Client

    where = f"in {scheduler_file}" if scheduler_file else f"at {address}"
    if scheduler_file and not os.path.isfile(scheduler_file):
        # Client(scheduler_file=...) would wait for the file to appear, for ever.
        raise AerdaskError(f"cannot reach the Dask scheduler {where}: no such file")
    try:
        if scheduler_file:
            return Client(scheduler_file=scheduler_file, timeout="5s")
        return Client(address, timeout="5s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:  # TypeError: tls:// without TLS settings
        raise AerdaskError(f"cannot reach the Dask scheduler {where}: {' '.join(str(exc).split())}") from exc


def _counts_table(name: str, counts: dict, shots: int) -> str:
    width = max((len(k) for k in counts), default=7)
    lines = [name, f"  {'outcome':<{width}}  {'count':>8}  {'probability':>11}"]
    for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {key:<{width}}  {count:>8}  {count / shots:>11.4f}")
    return "\n".join(lines)


def _backend_options(args) -> dict:
    """The simulator options ``--method``, ``--precision`` and ``--noise`` give."""
    options = {"method": args.method, "precision": args.precision}
    if args.noise:
        from .noise import NoiseModel

        try:
            with open(args.noise) as fh:
                data = json.load(fh)
        except ValueError as exc:
            raise AerdaskError(f"--noise {args.noise}: not JSON ({exc})") from None
        options["noise_model"] = NoiseModel.from_dict(data)
    return options


def _announce(job, client) -> None:
    """The job id, and where to watch it (the dashboard of a Dask cluster), on stderr."""
    where = f"; dashboard {client.dashboard_link}" if client is not None else ""
    print(f"job {job.job_id()}{where}", file=sys.stderr, flush=True)


def cmd_run(args) -> int:
    from .backend import AerSimulator
    from .loaders import load_circuits

    circuits = load_circuits(args.file)
    with _client(args) as client:
        backend = AerSimulator(executor=client, **_backend_options(args))
        options = {"shots": args.shots, "memory": args.memory}
        if args.seed is not None:
            options["seed_simulator"] = args.seed
        job = backend.run(circuits, **options)
        _announce(job, client)
        result = job.result()
    out = []
    for i, circuit in enumerate(circuits):
        entry = {"name": circuit.name, "shots": args.shots, "seed_simulator": result.results[i].seed_simulator}
        entry["counts"] = result.get_counts(i) if circuit.num_clbits else {}
        if args.memory and circuit.num_clbits:
            entry["memory"] = result.get_memory(i)
        out.append(entry)
    if args.json:  # a list, however many circuits: one shape to parse
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        for entry in out:
            print(_counts_table(entry["name"], entry["counts"], args.shots))
            if args.memory and "memory" in entry:
                print("  memory: " + " ".join(entry["memory"]))
    return 0


def cmd_sweep(args) -> int:
    from .backend import AerSimulator
    from .loaders import load_circuits
    from .sweep import SweepError, csv_points, grid_points, run_sweep

    if bool(args.grid) == bool(args.values):
        raise SweepError("give either --grid NAME=START:STOP:NUM ... or --values FILE.csv")
    circuits = load_circuits(args.circuit)
    if len(circuits) != 1:
        raise SweepError(f"{args.circuit}: a sweep needs exactly one circuit, found {len(circuits)}")
    names, points = grid_points(args.grid) if args.grid else csv_points(args.values)
    stop = _stop_on_signals()
    with _client(args) as client:
        backend = AerSimulator(executor=client, **_backend_options(args))
        summary = run_sweep(
            circuits[0],
            names,
            points,
            args.output,
            backend,
            shots=args.shots,
            seed=args.seed,
            points_per_job=args.points_per_job,
            progress=None if args.quiet else sys.stderr,
            stop=stop,
            observables=args.observable,
        )
    print(
        f"{summary['points']} points in {args.output} ({summary['ran']} run now, {summary['skipped']} already done, "
        f"seed {summary['seed']})"
    )
    return 0


def cmd_plot(args) -> int:
    from .tables import load

    table = load(args.table, outcomes="counts" if args.counts else "probabilities")
    names = table.attrs["parameters"]
    if args.x not in names:
        raise AerdaskError(f"--x {args.x!r}: the sweep's parameters are {names}")
    values = [c for c in table.columns if c.startswith(("evs.", "probabilities.", "counts."))]
    ys = args.y or values
    unknown = [y for y in ys if y not in table.columns]
    if unknown:
        raise AerdaskError(f"--y {unknown}: the table's columns are {list(table.columns)}")
    try:
        import matplotlib

        matplotlib.use("Agg")  # a file, whatever display there is
        import matplotlib.pyplot as plt
    except ImportError:
        raise AerdaskError("plot needs matplotlib: pip install 'aerdask[plot]'") from None
    others = [n for n in names if n != args.x]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    # One line per column, and per value of any other parameter (a grid's slices).
    groups = table.groupby(others) if others else [((), table)]
    for key, part in groups:
        part = part.sort_values(args.x)
        suffix = "" if not others else " (" + ", ".join(f"{n}={v:g}" for n, v in zip(others, key, strict=True)) + ")"
        for y in ys:
            ax.plot(part[args.x], part[y], marker=".", label=y + suffix)
    ax.set_xlabel(args.x)
    ax.set_ylabel("value" if len(ys) > 1 else ys[0])
    if len(ax.lines) > 8:  # a grid's many slices: the legend beside the axes, not over the lines
        ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.legend(fontsize="small", loc="best")
    ax.grid(alpha=0.3)
    output = args.output or os.path.splitext(args.table)[0] + ".png"
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    print(f"wrote {output}")
    return 0


def _stop_on_signals() -> threading.Event:
    """An event that Ctrl-C and SIGTERM set, in place of raising where the signal lands."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_cluster(args) -> int:
    import dask
    from distributed import Client, LocalCluster

    security, tls_config, dashboard_tls = (None, None, {}) if not args.tls else _tls_files(args.tls_dir)
    stop = _stop_on_signals()
    with (
        dask.config.set(dashboard_tls),  # the dashboards serve HTTPS too: every connection is TLS
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=args.threads,
            processes=True,
            host=args.host,
            protocol="tls://" if security else None,
            security=security,
            scheduler_port=args.port,
            dashboard_address=f"{args.host}:{args.dashboard_port}",
            preload=["aerdask_worker"],
        ) as cluster,
        Client(cluster, security=security) as client,
    ):
        print(f"scheduler: {cluster.scheduler_address}", flush=True)
        print(f"dashboard: {_dashboard(client)}", flush=True)
        print(f"workers:   {args.workers} x {args.threads} thread(s); Ctrl-C stops the cluster", flush=True)
        if tls_config:
            print(f"tls:       clients need DASK_CONFIG={tls_config.parent} (certificates and Dask's TLS settings)")
        while not stop.wait(0.5):
            pass
    print("cluster stopped", flush=True)
    return 0


def _dashboard(client) -> str:
    """The dashboard's link, or what to install for one: Dask serves it only with bokeh."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return "needs bokeh>=3.1: pip install 'aerdask[dashboard]'"
    return client.dashboard_link


def _tls_files(directory: str | None):
    """A throw-away CA, a certificate per role and Dask's client TLS settings in ``directory``.

    Returns:
        ``(security, config_file, dashboard)``: the cluster's ``distributed.Security``, the
        YAML file a client reads through ``DASK_CONFIG`` (a client without the certificate is
        refused), and the Dask settings that serve the dashboards over HTTPS.
    """
    import pathlib
    import tempfile

    import yaml
    from distributed import Security

    from .tls import make_certificates, write_private

    root = pathlib.Path(directory or tempfile.mkdtemp(prefix="aerdask-tls-"))
    files = make_certificates(root)
    security = Security(require_encryption=True, **files)
    config = {
        "distributed": {
            "comm": {
                "require-encryption": True,
                "tls": {
                    "ca-file": files["tls_ca_file"],
                    "client": {"cert": files["tls_client_cert"], "key": files["tls_client_key"]},
                },
            }
        }
    }
    (root / "dask").mkdir(mode=0o700, exist_ok=True)
    config_file = root / "dask" / "aerdask-tls.yaml"
    config_file.unlink(missing_ok=True)
    write_private(config_file, yaml.safe_dump(config))
    prefix = "distributed.scheduler.dashboard.tls"
    dashboard = {
        f"{prefix}.cert": files["tls_scheduler_cert"],
        f"{prefix}.key": files["tls_scheduler_key"],
        f"{prefix}.ca-file": files["tls_ca_file"],
    }
    return security, config_file, dashboard


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aerdask", description="Run Qiskit circuits on a thread pool or a Dask cluster."
    )
    parser.add_argument("--version", action="version", version=f"aerdask {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run OpenQASM 2/3, QPY or Python circuit files and print counts")
    run.add_argument("file", help=".qasm (OpenQASM 2 or 3), .qpy, or .py defining 'circuit'")
    run.add_argument("--shots", type=int, default=1024, help="shots per circuit (default 1024)")
    run.add_argument("--seed", type=int, help="seed_simulator, for reproducible counts")
    _simulator_arguments(run)
    run.add_argument("--memory", action="store_true", help="also print every shot's outcome")
    _scheduler_arguments(run)
    run.add_argument("--json", action="store_true", help="print a JSON list (one object per circuit) instead of tables")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="run a parameterised circuit over a grid or a CSV of values")
    sweep.add_argument("circuit", help="OpenQASM 3 with 'input float NAME;' parameters, or a .py defining 'circuit'")
    sweep.add_argument("--grid", nargs="+", metavar="NAME=START:STOP:NUM", help="axes of a grid (or NAME=V1,V2,...)")
    sweep.add_argument("--values", metavar="FILE.csv", help="CSV whose header names the parameters")
    sweep.add_argument(
        "--output", "-o", required=True, help="result table: .parquet (pyarrow), else JSON lines; run again to resume"
    )
    sweep.add_argument("--shots", type=int, default=1024)
    sweep.add_argument(
        "--observable",
        action="append",
        metavar="PAULI",
        help="store this observable's expectation value (a Pauli string such as ZZ) instead of counts; repeatable",
    )
    _simulator_arguments(sweep)
    sweep.add_argument("--seed", type=int, help="seed of the sweep (default: drawn once, kept with the output)")
    sweep.add_argument("--points-per-job", type=int, default=50)
    _scheduler_arguments(sweep)
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(func=cmd_sweep)

    plot = sub.add_parser("plot", help="plot a sweep's table against one parameter (PNG)")
    plot.add_argument("table", help="a sweep's output (.parquet or JSON lines)")
    plot.add_argument("--x", required=True, metavar="PARAM", help="the parameter along the x axis")
    plot.add_argument("--y", nargs="+", metavar="COLUMN", help="columns to plot (default: every outcome or observable)")
    plot.add_argument("--counts", action="store_true", help="plot counts, not probabilities")
    plot.add_argument("--output", "-o", help="PNG file (default: the table's name with .png)")
    plot.set_defaults(func=cmd_plot)

    cluster = sub.add_parser("cluster", help="start a local Dask scheduler and workers with the aerdask preload")
    cluster.add_argument("--workers", type=int, default=2)
    cluster.add_argument("--threads", type=int, default=1, help="threads per worker")
    cluster.add_argument("--host", default="127.0.0.1")
    cluster.add_argument("--port", type=int, default=8786, help="scheduler port (0: any free port)")
    cluster.add_argument("--dashboard-port", type=int, default=8787)
    cluster.add_argument("--tls", action="store_true", help="encrypt and authenticate every connection (tls://)")
    cluster.add_argument("--tls-dir", metavar="DIR", help="where --tls writes its certificates (default: a temp dir)")
    cluster.set_defaults(func=cmd_cluster)
    return parser


def _simulator_arguments(parser: argparse.ArgumentParser) -> None:
    from .methods import METHODS

    parser.add_argument("--method", choices=METHODS, default="automatic", help="simulation method (default automatic)")
    parser.add_argument("--precision", choices=["double", "single"], default="double")
    parser.add_argument("--noise", metavar="FILE.json", help="a noise model: JSON of qiskit-aer's NoiseModel.to_dict")


def _scheduler_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler, or 'local' for the thread pool (default: $DASK_SCHEDULER_ADDRESS, else local)",
    )
    where.add_argument("--scheduler-file", metavar="FILE", help="the JSON file 'dask scheduler --scheduler-file' wrote")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aerdask`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(
            "aerdask: interrupted; finished results are kept (run the same command again to resume a sweep)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (AerdaskError, ValueError, OSError) as exc:
        print(f"aerdask: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
