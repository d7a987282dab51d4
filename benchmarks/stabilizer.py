"""The stabilizer method against Aer's and against Stim, side by side in one run.

Two circuits (issue 33's anchors):

* ``random``: a random Clifford circuit of ``--qubits`` qubits (1000) and ``--depth`` layers
  (100), each layer a random one-qubit Clifford (H, S, Sdg, X, Y, Z, SX) on every qubit and
  CX on a random pairing, measured at the end;
* ``surface``: Stim's distance-``--distance`` (7) rotated surface-code memory experiment with
  depolarizing noise (``stim.Circuit.generated``), translated to Qiskit gate by gate (its
  ``DEPOLARIZE1/2`` as Pauli errors of an aerdask/Aer noise model on tagged identities, its
  ``X_ERROR`` before measurement as a Pauli error).

Each is run for ``--shots`` shots (10**4). Times are whole ``run().result()`` calls (Stim:
compile the sampler and sample), min of ``--repeat`` after one warm-up, on this machine.

    python benchmarks/stabilizer.py [--qubits 1000 --depth 100 --distance 7 --shots 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from qiskit import QuantumCircuit

ONE_QUBIT = ("h", "s", "sdg", "x", "y", "z", "sx")


def random_clifford_circuit(n: int, depth: int, seed: int = 7) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for _ in range(depth):
        for q, g in enumerate(rng.integers(len(ONE_QUBIT), size=n).tolist()):
            getattr(qc, ONE_QUBIT[g])(q)
        order = rng.permutation(n)
        for a, b in zip(order[0::2].tolist(), order[1::2].tolist(), strict=True):
            qc.cx(a, b)
    qc.measure_all()
    return qc


def to_stim(qc: QuantumCircuit):
    import stim

    names = {"h": "H", "s": "S", "sdg": "S_DAG", "x": "X", "y": "Y", "z": "Z", "sx": "SQRT_X", "cx": "CX"}
    out = stim.Circuit()
    for inst in qc.data:
        qubits = [qc.find_bit(q).index for q in inst.qubits]
        name = inst.operation.name
        if name == "measure":
            out.append("M", qubits)
        elif name != "barrier":
            out.append(names[name], qubits)
    return out


def surface_code(distance: int, p: float):
    """Stim's rotated memory experiment and the same circuit for Qiskit, with its noise as a noise model.

    Stim's ``DEPOLARIZE1`` after each H, ``DEPOLARIZE2`` after each CX, ``X_ERROR`` after each
    reset and before each measurement become Aer's errors on ``h``, ``cx`` and ``reset`` and a
    readout error: the same channels at the same places.

    Returns:
        ``(stim_circuit, qiskit_circuit, make_noise_model)``; ``make_noise_model(module)``
        builds the model with ``module``'s ``NoiseModel``, ``pauli_error`` and ``ReadoutError``.
    """
    import stim

    circuit = stim.Circuit.generated(
        "surface_code:rotated_memory_z",
        distance=distance,
        rounds=distance,
        after_clifford_depolarization=p,
        before_measure_flip_probability=p,
        after_reset_flip_probability=p,
    ).flattened()
    qc = QuantumCircuit(circuit.num_qubits, circuit.num_measurements)
    clbit = 0
    for inst in circuit:
        name = inst.name
        targets = [t.value for t in inst.targets_copy()]
        if name in ("R", "MR", "M"):
            for q in targets:
                if name != "R":
                    qc.measure(q, clbit)
                    clbit += 1
                if name != "M":
                    qc.reset(q)
        elif name == "H":
            for q in targets:
                qc.h(q)
        elif name == "CX":
            for a, b in zip(targets[0::2], targets[1::2], strict=True):
                qc.cx(a, b)
        elif name not in ("QUBIT_COORDS", "DETECTOR", "OBSERVABLE_INCLUDE", "TICK", "SHIFT_COORDS"):
            if name not in ("DEPOLARIZE1", "DEPOLARIZE2", "X_ERROR"):
                raise ValueError(f"untranslated stim instruction {name}")

    def make_noise_model(noise_module):
        model = noise_module.NoiseModel()
        dep1 = noise_module.pauli_error([("I", 1 - p)] + [(s, p / 3) for s in "XYZ"])
        paulis2 = [a + b for a in "IXYZ" for b in "IXYZ"][1:]
        dep2 = noise_module.pauli_error([("II", 1 - p)] + [(s, p / 15) for s in paulis2])
        model.add_all_qubit_quantum_error(dep1, ["h"])
        model.add_all_qubit_quantum_error(dep2, ["cx"])
        model.add_all_qubit_quantum_error(noise_module.pauli_error([("I", 1 - p), ("X", p)]), ["reset"])
        model.add_all_qubit_readout_error(noise_module.ReadoutError([[1 - p, p], [p, 1 - p]]))
        return model

    return circuit, qc, make_noise_model


def aer_time(run, shots: int, scaled_from: int, repeat: int) -> float:
    """Aer's time for ``shots``: measured, or with ``scaled_from`` the line through 1 and ``scaled_from`` shots."""
    if not scaled_from:
        return timed(lambda: run(shots), repeat)
    one = timed(lambda: run(1), repeat)
    some = timed(lambda: run(scaled_from), repeat)
    return one + (some - one) * (shots - 1) / (scaled_from - 1)


def timed(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qubits", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--distance", type=int, default=7)
    parser.add_argument("--p", type=float, default=0.001)
    parser.add_argument("--shots", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], help="random and/or surface")
    parser.add_argument(
        "--aer-shots",
        type=int,
        default=0,
        help="time Aer at this many shots and at 1, and scale linearly to --shots (Aer replays per shot)",
    )
    args = parser.parse_args()

    import qiskit_aer
    import qiskit_aer.noise as aer_noise
    import stim

    import aerdask

    rows = []
    if "random" not in args.skip:
        qc = random_clifford_circuit(args.qubits, args.depth)
        ours = aerdask.AerSimulator(method="stabilizer")
        aer = qiskit_aer.AerSimulator(method="stabilizer")
        sampler_circuit = to_stim(qc)
        rows.append(
            (
                f"random {args.qubits}q depth {args.depth}",
                timed(lambda: ours.run(qc, shots=args.shots, seed_simulator=1).result(), args.repeat),
                aer_time(
                    lambda s: aer.run(qc, shots=s, seed_simulator=1).result(), args.shots, args.aer_shots, args.repeat
                ),
                timed(lambda: sampler_circuit.compile_sampler(seed=1).sample(args.shots), args.repeat),
            )
        )
    if "surface" not in args.skip:
        circuit, qc, make = surface_code(args.distance, args.p)
        ours = aerdask.AerSimulator(method="stabilizer", noise_model=make(aer_noise))  # aerdask reads Aer's model
        aer = qiskit_aer.AerSimulator(method="stabilizer", noise_model=make(aer_noise))
        rows.append(
            (
                f"surface d={args.distance} ({qc.num_qubits}q, {qc.num_clbits} meas)",
                timed(lambda: ours.run(qc, shots=args.shots, seed_simulator=1).result(), args.repeat),
                aer_time(
                    lambda s: aer.run(qc, shots=s, seed_simulator=1).result(), args.shots, args.aer_shots, args.repeat
                ),
                timed(lambda: circuit.compile_sampler(seed=1).sample(args.shots), args.repeat),
            )
        )
    versions = f"stim {stim.__version__}, aer {qiskit_aer.__version__}"
    print(f"shots {args.shots}; min of {args.repeat} after a warm-up; {versions}")
    if args.aer_shots:
        print(f"aer timed at {args.aer_shots} shots and scaled to {args.shots} from one shot's time (see --aer-shots)")
    print(f"{'circuit':44} {'aerdask':>9} {'aer':>9} {'stim':>9} {'/aer':>7} {'/stim':>8}")
    for name, ours_t, aer_t, stim_t in rows:
        print(f"{name:44} {ours_t:9.3f} {aer_t:9.3f} {stim_t:9.4f} {ours_t / aer_t:7.3f} {ours_t / stim_t:8.1f}")


if __name__ == "__main__":
    main()
