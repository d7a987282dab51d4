"""``SamplerV2``: Qiskit's sampler primitive on aerdask, each PUB compiled once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from qiskit.primitives import BaseSamplerV2, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers import BitArray, DataBin
from qiskit.primitives.containers.sampler_pub import SamplerPub

from .job import PrimitiveJob
from .pubs import PrimitiveBase, flat_values, submit_pubs

__all__ = ["SamplerV2"]


@dataclasses.dataclass
class Options:
    """Options of :class:`SamplerV2`.

    Attributes:
        backend_options: Options of :class:`~aerdask.AerSimulator` (``precision``,
            ``fusion_enable``, ``executor``...).
        run_options: Options of :meth:`~aerdask.AerSimulator.run` for every job
            (``max_job_size``...); ``shots`` and ``memory`` are the sampler's own.
    """

    backend_options: dict = dataclasses.field(default_factory=dict)
    run_options: dict = dataclasses.field(default_factory=dict)


class SamplerV2(PrimitiveBase, BaseSamplerV2):
    """Samples the classical registers of PUBs ``(circuit, parameter_values, shots)``.

    Each PUB's circuit compiles once; its parameter values (any broadcastable shape)
    travel as an array, and workers bind and sample every point. Each register comes
    back as a ``BitArray`` of shape ``pub.shape``, as ``StatevectorSampler`` and
    ``qiskit_aer.primitives.SamplerV2`` return it.

    Args:
        default_shots: Shots of a PUB that names none, when ``run`` gives none either.
        seed: Seeds the sampling (``None``: a fresh seed per job). Point ``i`` of a
            job, counted over its PUBs in order, samples from
            ``SeedSequence(seed + i)``.
        executor: A ``concurrent.futures.Executor`` or a Dask ``Client``; ``None``
            runs on the local thread pool.
        options: ``backend_options`` and ``run_options`` (see :class:`Options`).
    """

    def __init__(self, *, default_shots: int = 1024, seed: int | None = None, executor=None, options=None):
        super().__init__(executor, Options(**(options or {})))
        self._default_shots = default_shots
        self._seed = seed

    @property
    def default_shots(self) -> int:
        """Shots of a PUB that names none."""
        return self._default_shots

    @property
    def seed(self) -> int | None:
        """The seed of every job, or ``None``."""
        return self._seed

    def run(self, pubs: Iterable, *, shots: int | None = None) -> PrimitiveJob:
        """Sample every PUB; returns the running job.

        Raises:
            AerdaskInputError: for bad parameter values (naming the parameter) or an
                unsupported instruction, before anything runs.
            ValueError: for a PUB Qiskit cannot coerce.
        """
        pubs = [SamplerPub.coerce(pub, shots or self._default_shots) for pub in pubs]
        items = [(pub.circuit, flat_values(pub.circuit, pub.parameter_values), pub.shots) for pub in pubs]
        run_options = {
            k: v for k, v in self._options.run_options.items() if k not in ("shots", "memory", "parameter_binds")
        }
        run_options["seed_simulator"] = self._seed if self._seed is not None else run_options.get("seed_simulator")
        run_options["memory"] = True
        job, first = submit_pubs(self._backend, items, run_options, memory_format="bits")
        return PrimitiveJob(job, lambda result: _results(result, pubs, first))


def _results(result, pubs: list[SamplerPub], first: list[int]) -> PrimitiveResult:
    out = []
    for pub, start in zip(pubs, first, strict=True):
        circuit = pub.circuit
        points = int(np.prod(pub.shape, dtype=np.int64))
        width = (circuit.num_clbits + 7) // 8
        samples = np.empty((points, pub.shots, width), dtype=np.uint8)
        for p in range(points):
            samples[p] = result.data(start + p)["memory"]
        every = BitArray(samples.reshape(*pub.shape, pub.shots, width), circuit.num_clbits)
        meas = {}
        for creg in circuit.cregs:
            bits = [circuit.find_bit(bit).index for bit in creg]
            meas[creg.name] = every.slice_bits(bits) if bits != list(range(circuit.num_clbits)) else every
        out.append(
            SamplerPubResult(
                DataBin(**meas, shape=pub.shape),
                metadata={"shots": pub.shots, "circuit_metadata": circuit.metadata},
            )
        )
    return PrimitiveResult(out, metadata={"version": 2})
