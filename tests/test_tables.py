"""Sweep results as data: tables, observables, plots, progress and the command line around them."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError
from aerdask.sweep import SweepError, grid_points, journal_path, load, run_sweep, to_xarray

from .conftest import random_u_layer

ROOT = Path(__file__).resolve().parents[1]


def _grid_circuit(measure=True):
    theta, phi = Parameter("theta"), Parameter("phi")
    qc = random_u_layer(3, np.random.default_rng(8))  # a seeded random input layer
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.rx(phi, 2)
    qc.cz(1, 2)
    if measure:
        qc.measure_all()
    return qc


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_load_gives_one_column_per_parameter_and_outcome(tmp_path, suffix):
    qc = _grid_circuit()
    names, points = grid_points(["theta=0:3:4", "phi=0,1.5"])
    out = tmp_path / f"grid{suffix}"
    run_sweep(qc, names, points, out, AerSimulator(), shots=200, seed=4, points_per_job=3, progress=None)
    table = load(out)
    assert list(table.columns[:4]) == ["index", "theta", "phi", "shots"]
    assert table.attrs["parameters"] == ["theta", "phi"]
    assert table["index"].tolist() == list(range(8))
    assert [tuple(r) for r in table[["theta", "phi"]].to_numpy()] == points
    counts = table.filter(like="counts.")
    assert all(len(c) == len("counts.000") for c in counts.columns)
    assert (counts.sum(axis=1) == 200).all() and counts.dtypes.eq(np.int64).all()
    records = [json.loads(line) for line in journal_path(out).read_text().splitlines()]
    for record, (_, row) in zip(records, table.iterrows(), strict=True):  # the table is the journal, flattened
        assert {k: v for k, v in record["counts"].items()} == {
            c[len("counts.") :]: int(row[c]) for c in counts.columns if row[c]
        }
    probabilities = load(out, outcomes="probabilities").filter(like="probabilities.")
    np.testing.assert_allclose(probabilities.to_numpy(), counts.to_numpy() / 200)
    grid = to_xarray(table)
    assert grid["counts." + records[0]["counts"].popitem()[0]].dims == ("theta", "phi")
    assert grid.sizes == {"theta": 4, "phi": 2}


def test_parquet_is_written_in_row_groups_with_the_parameters(tmp_path):
    import pyarrow.parquet as pq

    from aerdask.tables import write_parquet

    records = [{"index": i, "a": 0.5 * i, "shots": 10, "counts": {"0": 10 - i % 3, "1": i % 3}} for i in range(25)]
    write_parquet(tmp_path / "t.parquet", records[::-1], ["a"], row_group_points=10)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert meta.num_row_groups == 3 and meta.num_rows == 25
    (tmp_path / "t.parquet.meta.json").write_text("not the table's metadata")  # only the file's own counts
    table = load(tmp_path / "t.parquet")
    assert table["index"].tolist() == list(range(25)) and table.attrs["parameters"] == ["a"]


def test_observable_sweep_equals_statevector_expectation_values(tmp_path):
    qc = _grid_circuit()
    names, points = grid_points(["theta=0:3:5", "phi=-1,0.7"])
    observables = {"zz": SparsePauliOp("ZZI"), "mix": SparsePauliOp(["XII", "IYZ"], [0.5, -2.0]), "ZIZ": "ZIZ"}
    out = tmp_path / "evs.parquet"
    summary = run_sweep(qc, names, points, out, AerSimulator(), seed=1, progress=None, observables=observables)
    assert summary["ran"] == 10
    table = load(out)
    assert sorted(c for c in table.columns if c.startswith("evs.")) == ["evs.ZIZ", "evs.mix", "evs.zz"]
    assert (table["shots"] == 1).all()  # exact values: one shot each
    bare = qc.remove_final_measurements(inplace=False)
    for _, row in table.iterrows():
        state = Statevector(bare.assign_parameters({"theta": row["theta"], "phi": row["phi"]}))
        for label, obs in observables.items():
            expected = state.expectation_value(SparsePauliOp(obs) if isinstance(obs, str) else obs).real
            assert row[f"evs.{label}"] == pytest.approx(expected, abs=1e-10)
    # The observables are part of what the sweep is: other ones are another sweep.
    with pytest.raises(SweepError, match="different sweep"):
        run_sweep(qc, names, points, out, AerSimulator(), seed=1, progress=None, observables=["ZZI"])
    with pytest.raises(AerdaskInputError, match="Pauli"):
        run_sweep(qc, names, points, tmp_path / "bad.jsonl", AerSimulator(), progress=None, observables=["ZQZ"])


def test_observable_sweep_under_noise_uses_the_density_matrix(tmp_path):
    from aerdask.noise import NoiseModel

    from .noise_cases import depolarizing

    qc = _grid_circuit()
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing(0.1, 1), ["ry", "rx"])
    names, points = grid_points(["theta=0,1", "phi=0.5"])
    out = tmp_path / "noisy.jsonl"
    run_sweep(qc, names, points, out, AerSimulator(noise_model=noise), progress=None, observables=["ZZZ"])
    ideal = tmp_path / "ideal.jsonl"
    run_sweep(qc, names, points, ideal, AerSimulator(), progress=None, observables=["ZZZ"])
    noisy_values, ideal_values = load(out)["evs.ZZZ"].to_numpy(), load(ideal)["evs.ZZZ"].to_numpy()
    assert (np.abs(noisy_values) < np.abs(ideal_values)).all()  # depolarised towards 0
    meta = json.loads((tmp_path / "noisy.jsonl.meta.json").read_text())
    assert meta["shots"] == 1  # the density matrix: exact, one run per point


def test_a_resumed_sweep_counts_only_new_points_in_its_rate(tmp_path):
    import io

    qc = _grid_circuit()
    names, points = grid_points(["theta=0:3:6", "phi=0"])
    out = tmp_path / "r.jsonl"
    run_sweep(qc, names, points[:4], tmp_path / "part.jsonl", AerSimulator(), shots=10, seed=2, progress=None)
    run_sweep(qc, names, points, out, AerSimulator(), shots=10, seed=2, progress=None)
    stream = io.StringIO()
    summary = run_sweep(qc, names, points, out, AerSimulator(), shots=10, seed=2, progress=stream)
    assert summary["skipped"] == 6
    text = stream.getvalue()
    assert "6/6" in text and "point/s" in text  # started at 6: no points ran, so no rate but 0 or ?
    bar = text.strip().split("\r")[-1]
    rate = bar.split(",")[-1]
    assert "?point/s" in rate or " 0.00point/s" in rate, bar


def test_a_parquet_output_without_pyarrow_is_refused_before_running(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("no pyarrow here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    qc = _grid_circuit()
    with pytest.raises(AerdaskInputError, match=r"aerdask\[table\]"):
        run_sweep(qc, ["theta", "phi"], [(0.0, 0.0)], tmp_path / "t.parquet", AerSimulator(), progress=None)
    assert not list(tmp_path.iterdir())  # nothing written, nothing ran


def test_a_table_that_is_not_a_grid_has_no_dimensions(tmp_path):
    qc = _grid_circuit()
    out = tmp_path / "p.jsonl"
    run_sweep(qc, ["theta", "phi"], [(0.0, 1.0), (0.0, 1.0)], out, AerSimulator(), shots=5, progress=None)
    with pytest.raises(AerdaskInputError, match="not a grid"):
        to_xarray(load(out))
    with pytest.raises(AerdaskInputError, match="outcomes="):
        load(out, outcomes="amplitudes")


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "aerdask.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_cli_sweeps_an_observable_and_plots_it(tmp_path):
    (tmp_path / "c.py").write_text(
        "from qiskit import QuantumCircuit\nfrom qiskit.circuit import Parameter\n"
        "t = Parameter('theta')\ncircuit = QuantumCircuit(2)\ncircuit.ry(t, 0)\ncircuit.cx(0, 1)\n"
    )
    out = tmp_path / "zz.parquet"
    sweep = _cli(
        "sweep",
        "c.py",
        "--grid",
        "theta=0:3.14:9",
        "--observable",
        "ZZ",
        "--observable",
        "XX",
        "-o",
        str(out),
        "--quiet",
        "--method",
        "density_matrix",
        "--precision",
        "single",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr
    table = load(out)
    np.testing.assert_allclose(table["evs.ZZ"], 1.0, atol=1e-5)
    np.testing.assert_allclose(table["evs.XX"], np.sin(table["theta"]), atol=1e-5)
    picture = tmp_path / "zz.png"
    plot = _cli("plot", str(out), "--x", "theta", "-o", str(picture))
    assert plot.returncode == 0, plot.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 10_000
    bad = _cli("plot", str(out), "--x", "nope")
    assert bad.returncode == 1 and "--x 'nope'" in bad.stderr and "['theta']" in bad.stderr


def test_cli_version_method_noise_and_one_json_shape(tmp_path):
    from aerdask_kernels import __version__

    assert _cli("--version").stdout.strip() == f"aerdask {__version__}"
    noise = {
        "errors": [
            {
                "type": "qerror",
                "operations": ["x"],
                "instructions": [[{"name": "id", "qubits": [0]}], [{"name": "x", "qubits": [0]}]],
                "probabilities": [0.7, 0.3],
            },
            {"type": "roerror", "operations": ["measure"], "probabilities": [[1.0, 0.0], [0.0, 1.0]]},
        ]
    }
    (tmp_path / "noise.json").write_text(json.dumps(noise))
    qasm = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nx q[0];\nmeasure q[0] -> c[0];\n'
    (tmp_path / "x.qasm").write_text(qasm)
    run = _cli(
        "run",
        "x.qasm",
        "--noise",
        "noise.json",
        "--method",
        "density_matrix",
        "--shots",
        "4000",
        "--seed",
        "1",
        "--json",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    (entry,) = json.loads(run.stdout)  # a list, even for one circuit
    assert abs(entry["counts"]["0"] / 4000 - 0.3) < 0.03  # the x was undone 30% of the time
    assert run.stderr.startswith("job ")
    assert _cli("run", "x.qasm", "--method", "nope").returncode == 2


def test_noise_model_from_aer_dict_matches_the_same_channels():
    """NoiseModel.from_dict reads Aer's serializable to_dict form: mixtures, Pauli strings, Kraus and readout."""
    from qiskit.quantum_info import Kraus

    from aerdask.noise import NoiseModel

    damping = [np.array([[1, 0], [0, np.sqrt(0.8)]]), np.array([[0, np.sqrt(0.2)], [0, 0]])]
    pairs = lambda m: [[[float(v.real), float(v.imag)] for v in row] for row in m]  # noqa: E731
    data = {
        "errors": [
            {
                "type": "qerror",
                "operations": ["h"],
                "instructions": [[{"name": "id", "qubits": [0]}], [{"name": "z", "qubits": [0]}]],
                "probabilities": [0.9, 0.1],
            },
            {
                "type": "qerror",
                "operations": ["cx"],
                "instructions": [
                    [{"name": "pauli", "qubits": [0, 1], "params": ["II"]}],
                    [{"name": "pauli", "qubits": [0, 1], "params": ["XZ"]}],
                ],
                "probabilities": [0.8, 0.2],
            },
            {
                "type": "qerror",
                "operations": ["rx"],
                "instructions": [[{"name": "kraus", "qubits": [0], "params": [pairs(k) for k in damping]}]],
                "probabilities": [1.0],
                "gate_qubits": [[1]],
            },
            {
                "type": "roerror",
                "operations": ["measure"],
                "probabilities": [[0.9, 0.1], [0.2, 0.8]],
                "gate_qubits": [[2]],
            },
        ]
    }
    loaded = NoiseModel.from_dict(json.loads(json.dumps(data)))
    by_hand = NoiseModel()
    z, x = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]])
    by_hand.add_all_qubit_quantum_error(Kraus([np.sqrt(0.9) * np.eye(2), np.sqrt(0.1) * z]), ["h"])
    by_hand.add_all_qubit_quantum_error(Kraus([np.sqrt(0.8) * np.eye(4), np.sqrt(0.2) * np.kron(x, z)]), ["cx"])
    by_hand.add_quantum_error(Kraus(damping), ["rx"], [1])
    by_hand.add_readout_error([[0.9, 0.1], [0.2, 0.8]], [2])
    qc = random_u_layer(3, np.random.default_rng(2))
    qc.h(0)
    qc.cx(0, 1)
    qc.rx(0.4, 1)
    qc.save_probabilities()
    qc.measure_all()
    results = [
        AerSimulator(method="density_matrix", noise_model=m).run(qc, shots=2000, seed_simulator=5).result()
        for m in (loaded, by_hand)
    ]
    np.testing.assert_allclose(results[0].data(0)["probabilities"], results[1].data(0)["probabilities"], atol=1e-12)
    assert results[0].get_counts() == results[1].get_counts()
    with pytest.raises(AerdaskInputError, match="error 0"):
        NoiseModel.from_dict({"errors": [{"type": "qerror", "operations": ["x"]}]})


def test_a_mistyped_option_names_the_likely_one():
    with pytest.raises(AerdaskInputError, match=r"did you mean 'shots'\?"):
        AerSimulator().run(QuantumCircuit(1), shotz=10)
    with pytest.raises(AerdaskInputError, match=r"did you mean 'seed_simulator'\?"):
        AerSimulator(seed_simulater=1)


def test_grid_heat_map_example_writes_the_picture(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sweep_grid.py"), str(tmp_path / "zz.parquet")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "zz.png").read_bytes()[:4] == b"\x89PNG"
    grid = to_xarray(load(tmp_path / "zz.parquet"))["evs.ZZ"]
    expected = np.cos(grid["theta"].to_numpy())[:, None] * np.cos(grid["phi"].to_numpy())[None, :]
    np.testing.assert_allclose(grid.to_numpy(), expected, atol=1e-10)


def test_job_progress_counts_experiments_not_tasks():
    import io

    t = Parameter("t")
    qc = QuantumCircuit(1)
    qc.rx(t, 0)
    qc.measure_all()
    job = AerSimulator().run([qc], parameter_binds=[{t: [0.1 * i for i in range(40)]}], max_job_size=5, shots=10)
    job.result()
    assert (job.tasks(), job.experiments(), job.experiments_done()) == (8, 40, 40)
    stream = io.StringIO()
    job.progress(file=stream)
    assert "40/40" in stream.getvalue() and "experiment" in stream.getvalue()
    assert "40/40 experiments in 8/8 tasks" in job._repr_html_()
    job._handles[3].done = lambda: False  # one task still running: its 5 experiments are not done
    assert job.experiments_done() == 35
    split = AerSimulator().run(qc.assign_parameters([0.3]), shots=1000, max_shot_size=300)
    split.result()
    assert (split.tasks(), split.experiments(), split.experiments_done()) == (4, 1, 1)
    split._handles[2].done = lambda: False  # one part of its shots missing: the experiment is not done
    assert split.experiments_done() == 0
