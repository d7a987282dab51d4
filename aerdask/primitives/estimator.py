"""``EstimatorV2``: Qiskit's estimator primitive on aerdask, expectation values computed on the workers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import Pauli

from ..errors import AerdaskInputError
from ..library import SaveExpectationValue
from .job import PrimitiveJob
from .pubs import PrimitiveBase, flat_values, submit_pubs

__all__ = ["EstimatorV2"]

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
    """

    default_precision: float = 0.0
    backend_options: dict = dataclasses.field(default_factory=dict)
    run_options: dict = dataclasses.field(default_factory=dict)


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
        plans = [_Plan(i, pub) for i, pub in enumerate(pubs)]
        items = [(plan.circuit, flat_values(plan.pub.circuit, plan.pub.parameter_values), 1) for plan in plans]
        run_options = {k: v for k, v in self._options.run_options.items() if k not in ("shots", "parameter_binds")}
        seed = self._seed if self._seed is not None else run_options.get("seed_simulator")
        run_options["seed_simulator"] = seed
        job, first = submit_pubs(self._backend, items, run_options)

        def finish(result) -> PrimitiveResult:
            rng = np.random.default_rng(seed)
            return PrimitiveResult(
                [plan.result(result, start, rng) for plan, start in zip(plans, first, strict=True)],
                metadata={"version": 2},
            )

        return PrimitiveJob(job, finish)


class _Plan:
    """One PUB: its Pauli terms, the circuit that saves their values, and how to weigh them back."""

    def __init__(self, i: int, pub: EstimatorPub):
        self.pub = pub
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
            circuit.append(SaveExpectationValue(pauli, _LABEL.format(k)), qubits)
        self.circuit = circuit

    def result(self, result, start: int, rng: np.random.Generator) -> PubResult:
        pub = self.pub
        points = int(np.prod(pub.parameter_values.shape, dtype=np.int64))
        values = np.empty((points, len(self.paulis)), dtype=np.float64)
        for p in range(points):
            data = result.data(start + p)
            values[p] = [data[_LABEL.format(k)] for k in range(len(self.paulis))]
        shape = np.broadcast_shapes(pub.parameter_values.shape, pub.observables.shape)
        point = np.broadcast_to(np.arange(points).reshape(pub.parameter_values.shape), shape).ravel()
        obs = np.broadcast_to(np.arange(pub.observables.size).reshape(pub.observables.shape), shape).ravel()
        evs = np.einsum("bk,bk->b", values[point], self.coeffs[obs]).reshape(shape)
        if np.abs(evs.imag).max(initial=0.0) > 1e-12:
            raise AerdaskInputError("an observable has complex coefficients: it is not Hermitian")
        evs = evs.real
        if pub.precision > 0:
            evs = rng.normal(evs, pub.precision)
        return PubResult(
            DataBin(evs=evs, stds=np.full(shape, pub.precision), shape=shape),
            metadata={"target_precision": pub.precision, "circuit_metadata": pub.circuit.metadata},
        )
