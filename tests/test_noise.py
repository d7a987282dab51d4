"""Noise: trajectories of the statevector method against exact mixed-state evolution.

The oracle is ``qiskit.quantum_info.DensityMatrix`` evolved through the same gates and
channels; trajectory counts must fit its distribution (a chi-square test at fixed seeds).
qiskit-aer's own ``NoiseModel`` is read in a subprocess (importing qiskit-aer here would
replace the save methods of ``QuantumCircuit`` for the other tests).
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Instruction
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import DensityMatrix, Kraus, Operator, SuperOp

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError
from aerdask.noise import NoiseModel, as_channel
from aerdask_kernels.opcodes import CHAN_COUNT, COL_ARG, COL_NTARG, COL_OPCODE, OP_CHANNEL

from .noise_cases import SHOTS, amplitude_damping, assert_fits, depolarizing, exact_probabilities, model_of


def noisy_circuit(n: int, seed: int) -> QuantumCircuit:
    qc = random_circuit(n, 4, max_operands=2, seed=seed)
    qc.measure_all()
    return qc


@pytest.mark.parametrize("kind", ["depolarizing", "amplitude_damping", "reset_and_local", "readout"])
@pytest.mark.parametrize("seed", [3, 11])
def test_trajectory_counts_fit_the_exact_mixed_state(kind, seed):
    qc = noisy_circuit(3, seed)
    model = model_of(kind)
    readout = {}
    if model.default_readout is not None:
        finals = [
            (qc.find_bit(i.qubits[0]).index, qc.find_bit(i.clbits[0]).index) for i in qc.data if i.name == "measure"
        ]
        readout = {c: model.readout_for(q) for q, c in finals}
    counts = (
        AerSimulator(method="statevector", noise_model=model)
        .run(qc, shots=SHOTS, seed_simulator=seed)
        .result()
        .get_counts()
    )
    assert_fits(counts, exact_probabilities(qc, model, readout), qc.num_clbits)


@pytest.mark.parametrize("method", ["statevector", "density_matrix"])  # branches of trajectories; a collapse
def test_mid_circuit_measurement_and_condition_under_noise(method):
    # measure q0, then X on q1 if it read 1: by deferred measurement, a CX from q0 to q1.
    model = NoiseModel()
    model.add_all_qubit_quantum_error(amplitude_damping(0.3), ["h"])
    model.add_all_qubit_quantum_error(depolarizing(0.2, 1), ["x"])
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(1, 1)
    rho = DensityMatrix.from_label("00").evolve(Operator.from_label("H"), [0])
    p1 = float(np.real(rho.evolve(amplitude_damping(0.3), [0]).probabilities([0])[1]))
    # The X (and its error) runs only on the shots that read 1; depolarizing(0.2) undoes it with
    # its X and Y terms, p/4 each.
    p_stay = 1 - 2 * 0.2 / 4
    probs = np.array([1 - p1, p1 * (1 - p_stay), 0.0, p1 * p_stay])  # clbit values 0b00, 0b01, 0b10, 0b11
    counts = AerSimulator(method=method, noise_model=model).run(qc, shots=SHOTS, seed_simulator=5).result().get_counts()
    assert_fits(counts, probs, 2)


def test_channels_written_into_the_circuit():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.append(amplitude_damping(0.4), [0])
    qc.cx(0, 1)
    qc.append(SuperOp(depolarizing(0.3, 1)), [1])
    qc.measure([0, 1], [0, 1])
    rho = DensityMatrix.from_label("00").evolve(Operator.from_label("H"), [0]).evolve(amplitude_damping(0.4), [0])
    rho = rho.evolve(_cx(), [0, 1])
    rho = rho.evolve(depolarizing(0.3, 1), [1])
    counts = AerSimulator().run(qc, shots=SHOTS, seed_simulator=2).result().get_counts()
    assert_fits(counts, rho.probabilities(), 2)


def _cx() -> Operator:
    qc = QuantumCircuit(2)
    qc.cx(0, 1)
    return Operator(qc)


def test_seeded_noisy_counts_repeat_and_split_over_tasks_as_shot_chunks():
    model = model_of("depolarizing")
    qc = noisy_circuit(4, 7)
    backend = AerSimulator(method="statevector", noise_model=model)
    first = backend.run(qc, shots=3000, seed_simulator=9).result().get_counts()
    assert backend.run(qc, shots=3000, seed_simulator=9).result().get_counts() == first
    split = backend.run(qc, shots=3000, seed_simulator=9, max_shot_size=1000)
    assert split.tasks() == 3 and sum(split.result().get_counts().values()) == 3000
    assert (
        split.result().get_counts()
        == backend.run(qc, shots=3000, seed_simulator=9, max_shot_size=1000).result().get_counts()
    )


@pytest.mark.cluster
def test_seeded_noisy_counts_are_the_same_on_dask(local_cluster_client):
    model = model_of("amplitude_damping")
    qc = noisy_circuit(4, 8)
    local = AerSimulator(method="statevector", noise_model=model).run(
        qc, shots=4000, seed_simulator=3, max_shot_size=1000
    )
    remote = AerSimulator(method="statevector", noise_model=model, executor=local_cluster_client).run(
        qc, shots=4000, seed_simulator=3, max_shot_size=1000
    )
    assert remote.result().get_counts() == local.result().get_counts()
    # Without max_shot_size, a cluster's worker threads share the trajectories of one circuit.
    auto = AerSimulator(method="statevector", noise_model=model, executor=local_cluster_client).run(
        qc, shots=4000, seed_simulator=3
    )
    assert auto.tasks() == 2 and sum(auto.result().get_counts().values()) == 4000
    ideal = AerSimulator(executor=local_cluster_client).run(qc, shots=4000, seed_simulator=3)
    assert ideal.tasks() == 1  # one final state, sampled: nothing to share


def test_ideal_runs_are_unchanged_by_an_empty_model():
    qc = noisy_circuit(3, 1)
    ideal = AerSimulator().run(qc, seed_simulator=1).result()
    assert ideal.results[0].metadata["measure_sampling"] is True
    empty = AerSimulator(method="statevector", noise_model=NoiseModel()).run(qc, seed_simulator=1).result()
    assert empty.get_counts() == ideal.get_counts()
    noisy = AerSimulator(method="statevector", noise_model=model_of("depolarizing")).run(qc, seed_simulator=1).result()
    assert noisy.results[0].metadata["measure_sampling"] is False  # trajectories, as Aer reports it
    # As Aer: a model with quantum errors makes every circuit of the job trajectories, even one that
    # no error reaches; readout errors alone keep sampling the final state.
    untouched = QuantumCircuit(1, 1)
    untouched.measure(0, 0)
    result = AerSimulator(method="statevector", noise_model=model_of("depolarizing")).run([qc, untouched]).result()
    assert [r.metadata["measure_sampling"] for r in result.results] == [False, False]
    readout_only = NoiseModel()
    readout_only.add_all_qubit_readout_error([[0.9, 0.1], [0.1, 0.9]])
    result = (
        AerSimulator(method="statevector", noise_model=readout_only)
        .run(untouched, shots=2000, seed_simulator=2)
        .result()
    )
    assert result.results[0].metadata["measure_sampling"] is True and 100 < result.get_counts()["1"] < 300


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda m: m.add_all_qubit_quantum_error(Kraus([np.eye(2), np.eye(2)]), ["x"]),
            "noise on 'x'.*not trace preserving",
        ),
        (
            lambda m: m.add_quantum_error(Kraus([0.5 * np.eye(2)]), ["h"], [3]),
            r"noise on 'h' qubits \[3\].*not trace preserving",
        ),
        (lambda m: m.add_all_qubit_readout_error([[0.9, 0.2], [0.1, 0.9]]), "rows summing to 1"),
        (lambda m: m.add_all_qubit_readout_error([[1.2, -0.2], [0.1, 0.9]]), r"lie in \[0, 1\]"),
        (lambda m: m.add_readout_error(np.eye(4), [0]), r"1 qubit is 2x2, got shape \(4, 4\)"),
        (lambda m: m.add_readout_error(np.eye(2), [0, 1]), r"2 qubits is 4x4"),
        (lambda m: m.add_readout_error(np.full((4, 4), 0.3), [0, 1]), "rows summing to 1"),
        (lambda m: m.add_quantum_error(depolarizing(0.1, 2), ["cx"], [0]), "2-qubit error on 1 qubits"),
    ],
)
def test_bad_noise_is_refused_naming_the_instruction(build, message):
    with pytest.raises(AerdaskInputError, match=message):
        build(NoiseModel())


def test_bad_noise_model_type_and_channel_instruction_are_refused_at_run():
    with pytest.raises(AerdaskInputError, match="noise_model must be None, an aerdask.noise.NoiseModel"):
        AerSimulator(method="statevector", noise_model="depolarizing").run(QuantumCircuit(1))
    qc = QuantumCircuit(1)
    qc.append(amplitude_damping(0.1), [0])
    qc.data[0].operation.params[1] = np.array([[0, 1], [0, 0]])  # no longer trace preserving
    with pytest.raises(AerdaskInputError, match=r"circuit 'circuit-\d+': kraus on qubits \[0\].*not trace preserving"):
        AerSimulator().run(qc)


def test_mixtures_are_recognised_and_kraus_kept():
    dep = as_channel(depolarizing(0.1, 1), "x")
    assert dep.kind == 0 and dep.identity == 0 and np.isclose(dep.probabilities.sum(), 1)
    damp = as_channel(amplitude_damping(0.1), "x")
    assert damp.kind == 1 and damp.matrices.shape == (2, 2, 2)


def test_transpiling_for_a_noisy_simulator_leaves_the_noise_models_gates_so_its_errors_apply(qiskit_aer_in_process):
    from qiskit import transpile
    from qiskit.providers.fake_provider import GenericBackendV2  # imports qiskit-aer where it is installed

    noise = NoiseModel()
    assert noise.basis_gates == ["cx", "id", "rz", "sx"]  # Aer's default: every gate unrolls to these
    noise.add_all_qubit_quantum_error(depolarizing(0.2, 1), ["x", "sx"])
    noise.add_quantum_error(depolarizing(0.1, 1), ["my_label"], [0])  # a label: no gate of the simulator
    assert noise.basis_gates == ["cx", "id", "rz", "sx", "x"]
    backend = AerSimulator(method="density_matrix", noise_model=noise)
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.h(0)  # ideal: |0> for sure; each h becomes rz sx rz, and the sx carries the error
    qc.measure(0, 0)
    mapped = transpile(qc, backend, optimization_level=0)
    assert set(mapped.count_ops()) == {"rz", "sx", "measure"}
    probabilities = exact_probabilities(mapped, noise)
    assert probabilities[1] > 0.1
    counts = backend.run(mapped, shots=SHOTS, seed_simulator=3).result().get_counts()
    assert_fits(counts, probabilities, 1)
    config = backend.configuration()
    assert config.basis_gates == ["cx", "id", "rz", "sx", "x", *config.custom_instructions]
    assert "save_probabilities" in config.custom_instructions and "measure" not in config.basis_gates
    # An explicit basis_gates option is taken as it is; without the model every gate is back.
    assert "h" in AerSimulator(noise_model=noise, basis_gates=["h", "cx"]).target
    backend.set_options(noise_model=None)
    assert "h" in backend.target and "h" in backend.configuration().basis_gates
    # A device's simulator keeps the device's Target, whatever the model.
    device = GenericBackendV2(5, basis_gates=["cx", "id", "rz", "sx", "x"], seed=1)
    config = AerSimulator.from_backend(device).configuration()
    assert config.num_qubits == 5 and sorted(map(tuple, config.coupling_map)) == sorted(device.coupling_map.get_edges())


def test_qiskit_aer_noise_models_and_instructions_run(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np
        from qiskit import QuantumCircuit
        from qiskit_aer import AerSimulator as Aer
        from qiskit_aer.noise import (NoiseModel, PauliLindbladError, ReadoutError, amplitude_damping_error,
                                      depolarizing_error, reset_error, thermal_relaxation_error)
        from scipy.stats import chi2_contingency
        from aerdask import AerSimulator

        nm = NoiseModel()
        nm.add_all_qubit_quantum_error(depolarizing_error(0.05, 1), ["h", "x", "sx"])
        nm.add_all_qubit_quantum_error(depolarizing_error(0.1, 2), ["cx"])
        nm.add_quantum_error(thermal_relaxation_error(50, 40, 10), ["x"], [1])
        nm.add_quantum_error(reset_error(0.1, 0.05), ["sx"], [2])
        nm.add_quantum_error(amplitude_damping_error(0.2), ["measure"], [0])
        nm.add_quantum_error(PauliLindbladError(["XY", "ZI"], [0.05, 0.1]), ["cx"], [1, 2])
        nm.add_all_qubit_readout_error(ReadoutError([[0.95, 0.05], [0.1, 0.9]]))
        nm.add_readout_error(ReadoutError([[0.8, 0.2], [0.2, 0.8]]), [2])
        qc = QuantumCircuit(3, 3)
        qc.h(0); qc.cx(0, 1); qc.x(1); qc.sx(2); qc.cx(1, 2); qc.h(2)
        qc.append(depolarizing_error(0.3, 1), [0])  # a QuantumError as an instruction
        qc.measure([0, 1, 2], [0, 1, 2])
        shots = 60000
        trajectories = AerSimulator(method="statevector", noise_model=nm)
        mine = trajectories.run(qc, shots=shots, seed_simulator=1).result().get_counts()
        exact = Aer(method="density_matrix", noise_model=nm)
        theirs = exact.run(qc, shots=shots, seed_simulator=2).result().get_counts()
        # What transpile leaves for a noisy simulator: Aer's gates, so the errors land on the same ones.
        from qiskit import transpile
        from aerdask.noise import as_noise_model
        assert as_noise_model(nm).basis_gates == nm.basis_gates
        probe = QuantumCircuit(2)
        probe.h(0); probe.cz(0, 1); probe.ry(0.3, 1); probe.t(0)
        for method in ("statevector", "density_matrix"):
            ours, aers = AerSimulator(method=method, noise_model=nm), Aer(method=method, noise_model=nm)
            configs = (ours.configuration(), aers.configuration())
            gates = [sorted(set(c.basis_gates) - set(c.custom_instructions)) for c in configs]
            assert gates[0] == gates[1], gates
            ops = [dict(transpile(probe, b, optimization_level=0).count_ops()) for b in (ours, aers)]
            assert ops[0] == ops[1], ops
        keys = sorted(set(mine) | set(theirs))
        table = np.array([[mine.get(k, 0) for k in keys], [theirs.get(k, 0) for k in keys]])
        print(chi2_contingency(table).pvalue)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert float(out.stdout.split()[-1]) > 1e-3


def test_device_noise_from_a_backend_target_equals_qiskit_aers():
    """``NoiseModel.from_backend``: per instruction and qubits the same channel as Aer's, and the same counts."""
    script = textwrap.dedent(
        """
        import numpy as np
        from qiskit import QuantumCircuit, transpile
        from qiskit.providers.fake_provider import GenericBackendV2
        from qiskit.quantum_info import Kraus, SuperOp
        from qiskit_aer import AerSimulator as Aer
        from qiskit_aer.noise import NoiseModel as AerNoiseModel
        from scipy.stats import chi2_contingency
        from aerdask import AerSimulator
        from aerdask.noise import NoiseModel

        device = GenericBackendV2(num_qubits=4, seed=3)
        theirs, mine = AerNoiseModel.from_backend(device), NoiseModel.from_backend(device)
        keys = {(name, tuple(q)) for name, by_qubits in theirs._local_quantum_errors.items() for q in by_qubits}
        assert keys == set(mine.local_errors) and not theirs._default_quantum_errors, keys ^ set(mine.local_errors)
        worst = 0.0
        for name, qubits in keys:
            total = None
            for c in mine.errors_for(name, qubits):  # the channels in the order they apply
                weights = np.sqrt(c.probabilities) if c.kind == 0 else np.ones(len(c.matrices))
                step = SuperOp(Kraus([w * m for w, m in zip(weights, c.matrices)]))
                total = step if total is None else total.compose(step)
            error = theirs._local_quantum_errors[name][qubits]
            worst = max(worst, float(np.abs(total.data - SuperOp(error).data).max()))
        for (qubit,), error in theirs._local_readout_errors.items():
            p = np.asarray(error.probabilities)
            assert np.allclose(mine.readout_for(qubit), [p[0, 1], p[1, 0]], atol=1e-15)
        qc = QuantumCircuit(3, 3)
        qc.h(0); qc.cx(0, 1); qc.cx(1, 2); qc.x(0)
        qc.measure([0, 1, 2], [0, 1, 2])
        tqc = transpile(qc, device, seed_transpiler=1)
        shots = 40000
        sim = AerSimulator.from_backend(device)
        assert sim.options.noise_model is not None
        mine = sim.run(tqc, shots=shots, seed_simulator=1).result().get_counts()
        theirs = Aer.from_backend(device).run(tqc, shots=shots, seed_simulator=2).result().get_counts()
        keys = sorted(set(mine) | set(theirs))
        table = np.array([[mine.get(k, 0) for k in keys], [theirs.get(k, 0) for k in keys]])
        print(worst, chi2_contingency(table).pvalue)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    worst, pvalue = (float(x) for x in out.stdout.split()[-2:])
    assert worst < 1e-12 and pvalue > 1e-3


@pytest.mark.parametrize("method", ["statevector", "density_matrix"])
def test_correlated_readout_error_of_a_multi_qubit_measurement(method):
    confusion = np.array([[0.3, 0, 0, 0.7], [0, 0.6, 0.4, 0], [0, 0, 1, 0], [0.1, 0, 0, 0.9]])
    model = NoiseModel()
    model.add_readout_error(confusion, [2, 0])  # bit 0 of the matrix's index is qubit 2
    measure2 = Instruction("measure", 2, 2, [])  # Aer's multi-qubit measurement
    qc = QuantumCircuit(3, 2)
    qc.x(2)
    qc.h(0)
    qc.append(measure2, [2, 0], [0, 1])
    # Measured: clbit 0 = 1 (qubit 2), clbit 1 = 0 or 1 (qubit 0): group values 1 and 3, half each.
    probs = 0.5 * confusion[1] + 0.5 * confusion[3]
    backend = AerSimulator(method=method, noise_model=model)
    counts = backend.run(qc, shots=SHOTS, seed_simulator=3).result().get_counts()
    assert_fits(counts, probs, 2)
    # Separate one-qubit measurements of those qubits are not that instruction: no error, as in Aer.
    plain = QuantumCircuit(3, 2)
    plain.x(2)
    plain.measure([2, 0], [0, 1])
    assert backend.run(plain, shots=100).result().get_counts() == {"01": 100}
    mid = qc.copy()
    mid.h(2)
    with pytest.raises(AerdaskInputError, match=r"correlated readout error of qubits \[2, 0\].*final measurements"):
        backend.run(mid)


@pytest.mark.parametrize("stride", [1, 3])
def test_fused_checkpoint_copies_give_the_same_trajectories(monkeypatch, stride):
    """Between errors, trajectories run fused copies of the rows; the samples are those of the exact rows."""
    import aerdask_kernels.passes.checkpoints as checkpoints

    model = model_of("depolarizing")
    damping = amplitude_damping(0.05)
    model.add_all_qubit_quantum_error(damping.tensor(damping), ["cx"])  # Kraus rows: walks stop there
    qc = noisy_circuit(5, 12)
    backend = AerSimulator(method="statevector", noise_model=model, seed_simulator=4, shots=3000)
    monkeypatch.setattr(checkpoints, "CHECKPOINT_STRIDE", 0)
    exact = backend.run(qc).result().get_counts()
    monkeypatch.setattr(checkpoints, "CHECKPOINT_STRIDE", stride)
    assert backend.run(qc).result().get_counts() == exact
    assert_fits(exact, exact_probabilities(qc, model), qc.num_clbits, 3000)


def test_fused_checkpoint_levels_cover_the_channel_rows():
    from aerdask.compiler import compile_circuit
    from aerdask_kernels.opcodes import OP_CHANNEL
    from aerdask_kernels.passes.checkpoints import LEVEL_FACTOR, Checkpoints
    from aerdask_kernels.passes.prepare import prepare_point

    qc = random_circuit(5, 8, max_operands=2, seed=3)
    exp = prepare_point(compile_circuit(qc, noise=model_of("depolarizing")), 0, True)
    channels = np.flatnonzero(exp.ops[:, COL_OPCODE] == OP_CHANNEL)
    copies = Checkpoints.build(exp, np.complex128, stride=2)
    assert len(copies.levels) >= 2
    for i, level in enumerate(copies.levels):
        stride = 2 * LEVEL_FACTOR**i
        np.testing.assert_array_equal(level.exact[:-1], channels[stride - 1 :: stride])
        assert (level.ops[level.fast[:-1], 0] == OP_CHANNEL).all()
        assert level.ops.shape[0] < exp.ops.shape[0]  # fewer rows: channels gone, gates fused across them
    assert copies.levels[0].span(0, channels[0]) is None  # no two checkpoints before the first error row


def test_each_channel_instruction_keeps_its_own_channel(monkeypatch):
    """A channel made for one instruction and freed must not lend its id to the next one made.

    The emitter indexes channels by ``id``. CPython gives a freed object's address (its id) to the next
    object of its size, so before the emitter held its channels, the 2-qubit channel of the second
    instruction could be read as the freed 1-qubit one (qiskit-aer's test_shot_branching_kraus_circuit_noise
    failed so, now and then). The fault is injected exactly: ``id`` in the emitter recycles the number of
    a channel as soon as it is freed, as the allocator may.
    """
    import weakref

    import aerdask.emitter
    from aerdask.noise import Channel

    free: list[int] = []
    numbers: dict[int, int] = {}
    recycled: list[int] = []

    def recycling_id(obj):
        if not isinstance(obj, Channel):
            return id(obj)
        key = id(obj)
        if key not in numbers:
            number = free.pop(0) if free else len(numbers) + len(recycled) + 1000
            numbers[key] = number
            weakref.finalize(obj, lambda k=key, n=number: (recycled.append(n), free.append(n), numbers.pop(k)))
        return numbers[key]

    monkeypatch.setattr(aerdask.emitter, "id", recycling_id, raising=False)
    qc = QuantumCircuit(2)
    for _ in range(3):
        qc.h(0)
        qc.append(amplitude_damping(0.05), [0])
        qc.cx(0, 1)
        qc.append(amplitude_damping(0.15).tensor(amplitude_damping(0.05)), [0, 1])
    exp = AerSimulator(method="statevector").compile([qc], shots=10).experiments[0]
    exp.validate()
    rows = exp.ops[exp.ops[:, COL_OPCODE] == OP_CHANNEL]
    sizes = exp.channels[rows[:, COL_ARG], CHAN_COUNT]  # operators: 2 for one qubit, 4 for two
    assert rows[:, COL_NTARG].tolist() == [1, 2] * 3 and sizes.tolist() == [2, 4] * 3
