"""``EstimatorV2``: Qiskit's estimator primitive on aerdask, expectation values computed on the workers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import Pauli

from ..errors import AerdaskInputError, CircuitTooLargeError
from ..library import SaveExpectationValue
from .job import PrimitiveJob
from .pubs import PrimitiveBase, flat_values, submit_pubs

__all__ = ["EstimatorV2", "ObservableSaves"]

_LABEL = "aerdask_pauli_{}"


@dataclasses.dataclass
class Options:
    """Options of :class:`EstimatorV2`.

    Attributes:
        default_precision: Precision of a PUB that names none, when ``run`` gives none
            either: 0 (the default) gives exact expectation values; ``p > 0`` adds
            Gaussian noise of standard deviation ``p`` to each, as
            ``qiskit_aer.primitives.EstimatorV2`` does to model shot noise.
        backend_options: Options of :class:`~aerdask.AerSimulator`.
        run_options: Options of :meth:`~aerdask.AerSimulator.run` (``seed_simulator``
            seeds the noise).
        trajectories: Under a noise model, the trajectories a PUB averages when its
            density matrix does not fit (or ``method="statevector"`` is set) and its
            precision is 0; with precision ``p > 0``, ``ceil(1 / p**2)`` of them (a Pauli's
            variance is at most 1). ``stds`` is then the standard error of that average.
    """

    default_precision: float = 0.0
    backend_options: dict = dataclasses.field(default_factory=dict)
    run_options: dict = dataclasses.field(default_factory=dict)
    trajectories: int = 4096


class EstimatorV2(PrimitiveBase, BaseEstimatorV2):
    """Expectation values of PUBs ``(circuit, observables, parameter_values, precision)``.

    Each PUB's circuit compiles once, with one expectation-value save per distinct
    Pauli term of its observables; workers run every parameter point and compute those
    values from the final state, and the client weighs them into each observable of
    the broadcast shape of observables and parameter values.

    Args:
        executor: A ``concurrent.futures.Executor`` or a Dask ``Client``; ``None``
            runs on the local thread pool.
        seed: Seeds the noise of ``precision > 0`` (``None``: ``run_options`` or fresh).
        options: See :class:`Options`.
    """

    def __init__(self, *, executor=None, seed: int | None = None, options=None):
        super().__init__(executor, Options(**(options or {})))
        self._seed = seed

    def run(self, pubs: Iterable, *, precision: float | None = None) -> PrimitiveJob:
        """Estimate every PUB; returns the running job.

        Raises:
            AerdaskInputError: for an observable term that is not a Pauli, bad parameter
                values (naming the parameter) or an unsupported instruction, before
                anything runs.
            ValueError: for a PUB Qiskit cannot coerce (a negative precision included).
        """
        precision = self._options.default_precision if precision is None else precision
        pubs = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        run_options = {k: v for k, v in self._options.run_options.items() if k not in ("shots", "parameter_binds")}
        seed = self._seed if self._seed is not None else run_options.get("seed_simulator")
        run_options["seed_simulator"] = seed
        noisy = _noisy(self._backend, run_options)
        plans = [_Plan(i, pub, self._method(pub, noisy, run_options), noisy) for i, pub in enumerate(pubs)]
        items = [
            (plan.circuit, flat_values(plan.pub.circuit, plan.pub.parameter_values), plan.shots(self._options), opts)
            for plan, opts in ((p, {"method": p.method}) for p in plans)
        ]
        job, first = submit_pubs(self._backend, items, run_options)

        def finish(result) -> PrimitiveResult:
            rng = np.random.default_rng(seed)
            return PrimitiveResult(
                [plan.result(result, start, rng) for plan, start in zip(plans, first, strict=True)],
                metadata={"version": 2},
            )

        return PrimitiveJob(job, finish)

    def _method(self, pub: EstimatorPub, noisy: bool, run_options: dict) -> str:
        """How a PUB runs: exactly (a statevector, or under noise a density matrix) or as trajectories.

        Under noise with the automatic method, the density matrix where it fits the
        workers (exact, as Aer's automatic method gives it), else averaged trajectories.
        """
        method = run_options.get("method", getattr(self._backend.options, "method", "automatic"))
        if not noisy:
            return "statevector" if method == "automatic" else method
        if method != "automatic":
            return method
        try:  # admission, against this executor's workers, says whether the density matrix fits
            values = flat_values(pub.circuit, pub.parameter_values)[:1]  # one point: the memory is the same for all
            options = {**run_options, "method": "density_matrix", "shots": 1}
            self._backend.compile([pub.circuit], parameter_values=[values], **options)
        except CircuitTooLargeError:
            return "statevector"
        return "density_matrix"


class ObservableSaves:
    """How a circuit saves the expectation values of some observables, as the estimator runs them.

    For a sweep (:func:`aerdask.sweep.run_sweep`): the circuit to run (the saves appended
    after its final measurements are removed), the method and shots the estimator would
    use (exact values from one shot, or averaged trajectories under noise), and each
    point's values read back from a result.

    Args:
        backend: The :class:`~aerdask.AerSimulator` that will run it (its method and noise).
        circuit: The circuit; final measurements are dropped.
        observables: Pauli strings or ``SparsePauliOp``s over the circuit's qubits.

    Raises:
        AerdaskInputError: for an observable that is not a Pauli sum on the circuit's qubits.
    """

    def __init__(self, backend, circuit, observables: list):
        bare = circuit.remove_final_measurements(inplace=False)
        values = np.zeros(bare.num_parameters)  # the plan needs the shape of a point, not its values
        try:
            pub = EstimatorPub.coerce((bare, list(observables), values), 0.0)
        except ValueError as exc:
            raise AerdaskInputError(
                f"observables {[str(o) for o in observables]}: {exc}; give Pauli strings over I, X, Y, Z "
                f"(qubit 0 rightmost) or SparsePauliOps on the circuit's {bare.num_qubits} qubits"
            ) from None
        estimator = EstimatorV2.from_backend(backend)
        noisy = _noisy(backend, {})
        self._plan = _Plan(0, pub, estimator._method(pub, noisy, {}), noisy)
        self.circuit = self._plan.circuit
        self.method = self._plan.method
        self.shots = self._plan.shots(estimator.options)

    def values(self, result, k: int) -> list[float]:
        """The observables' values at experiment ``k`` of ``result``."""
        return self._plan.point_values(result, k).tolist()


def _noisy(backend, run_options: dict) -> bool:
    """Whether the runs have quantum errors (a noise model's readout errors do not change expectation values)."""
    from ..noise import as_noise_model

    model = as_noise_model(run_options.get("noise_model", getattr(backend.options, "noise_model", None)))
    return model is not None and model.has_quantum_errors


class _Plan:
    """One PUB: its Pauli terms, the circuit that saves their values, and how to weigh them back.

    ``method``: ``"density_matrix"`` or a noiseless ``"statevector"`` give exact values from
    one run per point; a noisy ``"statevector"`` runs trajectories, saving each one's values.
    """

    def __init__(self, i: int, pub: EstimatorPub, method: str = "statevector", noisy: bool = False):
        self.pub = pub
        self.method = method
        self.trajectories = noisy and method == "statevector"
        observables = pub.observables.ravel().tolist()
        self.paulis = sorted({label for obs in observables for label in obs})
        index = {label: k for k, label in enumerate(self.paulis)}
        self.coeffs = np.zeros((len(observables), len(self.paulis)), dtype=np.complex128)
        for o, obs in enumerate(observables):
            for label, coeff in obs.items():
                self.coeffs[o, index[label]] += coeff
        circuit = pub.circuit.copy()
        qubits = list(circuit.qubits)
        for k, label in enumerate(self.paulis):
            try:
                pauli = Pauli(label)
            except Exception as exc:
                raise AerdaskInputError(f"PUB {i}: observable term {label!r} is not a Pauli string: {exc}") from None
            circuit.append(SaveExpectationValue(pauli, _LABEL.format(k), pershot=self.trajectories), qubits)
        self.circuit = circuit

    def shots(self, options: Options) -> int:
        """One run per point, or the trajectories (see :class:`Options`)."""
        if not self.trajectories:
            return 1
        if self.pub.precision > 0:
            return max(int(np.ceil(1.0 / self.pub.precision**2)), 2)
        return max(int(options.trajectories), 2)

    def result(self, result, start: int, rng: np.random.Generator) -> PubResult:
        pub = self.pub
        points = int(np.prod(pub.parameter_values.shape, dtype=np.int64))
        shape = np.broadcast_shapes(pub.parameter_values.shape, pub.observables.shape)
        point = np.broadcast_to(np.arange(points).reshape(pub.parameter_values.shape), shape).ravel()
        obs = np.broadcast_to(np.arange(pub.observables.size).reshape(pub.observables.shape), shape).ravel()
        if self.trajectories:
            evs, stds = self._averaged(result, start, points, point, obs)
        else:
            values = np.empty((points, len(self.paulis)), dtype=np.float64)
            for p in range(points):
                data = result.data(start + p)
                values[p] = [data[_LABEL.format(k)] for k in range(len(self.paulis))]
            evs = self._real(np.einsum("bk,bk->b", values[point], self.coeffs[obs]))
            stds = np.full(evs.shape, pub.precision)
            if pub.precision > 0:  # exact values, with the shot noise of that precision added (as Aer does)
                evs = rng.normal(evs, pub.precision)
        metadata = {"target_precision": pub.precision, "circuit_metadata": pub.circuit.metadata}
        metadata["simulator_metadata"] = {"method": self.method, "trajectories": self.trajectories}
        return PubResult(DataBin(evs=evs.reshape(shape), stds=stds.reshape(shape), shape=shape), metadata=metadata)

    def point_values(self, result, k: int) -> np.ndarray:
        """Each observable's value (float64, in the PUB's observable order) at experiment ``k`` of ``result``.

        Exact values, or under noise with trajectories their mean.
        """
        data = result.data(k)
        if self.trajectories:
            saved = np.array([np.asarray(data[_LABEL.format(j)], dtype=np.float64) for j in range(len(self.paulis))])
            return self._real(self.coeffs @ saved).mean(axis=-1)
        values = np.array([data[_LABEL.format(j)] for j in range(len(self.paulis))], dtype=np.float64)
        return self._real(self.coeffs @ values)

    def _averaged(self, result, start, points, point, obs) -> tuple[np.ndarray, np.ndarray]:
        """Each observable's mean over the trajectories, and the standard error of that mean."""
        evs, stds = np.empty(point.size), np.empty(point.size)
        per_point = []
        for p in range(points):
            data = result.data(start + p)
            per_point.append(
                np.array([np.asarray(data[_LABEL.format(k)], dtype=np.float64) for k in range(len(self.paulis))])
            )
        for b, (p, o) in enumerate(zip(point.tolist(), obs.tolist(), strict=True)):
            samples = self._real(self.coeffs[o] @ per_point[p])  # the observable in each trajectory
            evs[b] = samples.mean()
            stds[b] = samples.std(ddof=1) / np.sqrt(samples.size)
        return evs, stds

    @staticmethod
    def _real(values: np.ndarray) -> np.ndarray:
        if np.abs(values.imag).max(initial=0.0) > 1e-12:
            raise AerdaskInputError("an observable has complex coefficients: it is not Hermitian")
        return values.real
