"""Build a ``qiskit.result.Result`` from the plain data workers return.

Workers return outcomes as arrays of numbers. A batch of 1000 circuits with 1000
shots holds about a million distinct counts: building their hex-keyed dicts (or
unpickling them) on the client would cost more than everything else it does for the
job, and it is the one part that does not scale with the cluster. So each
experiment's ``counts`` and ``memory`` are built from the arrays the first time
they are read (``result.get_counts(i)``, ``result.data(i)``, ``to_dict()``...), only
for the experiments read, and then kept.
"""

from __future__ import annotations

import datetime

import numpy as np
from qiskit.quantum_info import Clifford, DensityMatrix, Operator, StabilizerState, Statevector, SuperOp
from qiskit.result import Result
from qiskit.result.models import ExperimentResult, ExperimentResultData

from aerdask_kernels.opcodes import COL_OPCODE, OP_CHANNEL, OP_MEASURE, OP_RESET

__all__ = ["ResultData", "build_result", "hex_strings"]

_HEX_TABLE_SIZE = 1 << 16
_hex_table: list = []  # filled on first use: hex(v) for v < _HEX_TABLE_SIZE, as an object array


def hex_strings(values: np.ndarray) -> list[str]:
    """``[hex(v) for v in values]`` for int64 (or object) arrays of non-negative clbit values."""
    if values.dtype != object and (values.size == 0 or values.max() < _HEX_TABLE_SIZE):
        if not _hex_table:
            _hex_table.append(np.array([hex(v) for v in range(_HEX_TABLE_SIZE)], dtype=object))
        return _hex_table[0][values].tolist()  # one lookup per value, no formatting
    return [hex(int(v)) for v in values.tolist()]


class ResultData(ExperimentResultData):
    """An experiment's data whose ``counts`` and ``memory`` are built from arrays when first read.

    Every way Qiskit reads them goes through these attributes, so a reader sees the
    usual ``{hex outcome: count}`` dict and list of hex strings.

    Args:
        outcomes: The clbit values seen (int64, ascending; objects past 62 clbits), or
            ``None`` for a circuit without clbits (no ``counts``, as in Aer).
        counts: int64; how often each outcome was seen.
        memory: Per-shot clbit values (as ``outcomes``), a uint8 array of packed
            bits (kept as it is), or ``None``.
        **data: Saved data, by label.
    """

    def __init__(self, outcomes=None, counts=None, memory=None, **data):
        super().__init__(**data)
        self._outcomes, self._counts, self._memory = outcomes, counts, memory
        lazy = [name for name, value in (("counts", outcomes), ("memory", memory)) if value is not None]
        self._data_attributes[:0] = lazy

    @property
    def counts(self) -> dict:
        """``{hex outcome: count}``, in increasing order of the outcome."""
        built = self.__dict__.get("_counts_dict")
        if built is None:
            if self._outcomes is None:
                raise AttributeError("this experiment has no counts (its circuit has no clbits)")
            built = dict(zip(hex_strings(self._outcomes), self._counts.tolist(), strict=True))
            self.__dict__["_counts_dict"] = built
        return built

    @property
    def memory(self):
        """Each shot's outcome as a hex string (or the packed bits a sampler asked for)."""
        built = self.__dict__.get("_memory_list")
        if built is None:
            if self._memory is None:
                raise AttributeError("this experiment kept no memory (run with memory=True)")
            is_bits = self._memory.dtype == np.uint8 and self._memory.ndim == 2
            built = self._memory if is_bits else hex_strings(self._memory)
            self.__dict__["_memory_list"] = built
        return built


def _save_value(kind: str | None, value):
    if kind == "matrix_product_state" and isinstance(value, tuple):  # Aer's: (pairs per qubit, bond vectors)
        pairs, lambdas = value
        return [tuple(np.asarray(m) for m in pair) for pair in pairs], [np.asarray(lam) for lam in lambdas]
    if isinstance(value, dict) and kind not in ("statevector_dict", "probabilities_dict"):
        return {k: _save_value(kind, v) for k, v in value.items()}  # conditional: per memory value
    if isinstance(value, list):
        return [_save_value(kind, v) for v in value]
    if kind == "statevector":
        return Statevector(np.asarray(value))
    if kind == "density_matrix":
        return DensityMatrix(np.asarray(value))
    if kind == "unitary":
        return Operator(np.asarray(value))
    if kind == "superop":
        return SuperOp(np.asarray(value))
    if kind in ("stabilizer", "clifford"):
        clifford = Clifford(np.asarray(value, dtype=bool))
        return StabilizerState(clifford) if kind == "stabilizer" else clifford
    if kind == "expval":
        return float(value)
    if kind == "expval_var":
        return [float(v) for v in value]
    return value


def _data(raw: dict, kinds: dict[str, str], has_counts: bool) -> ResultData:
    saves = {label: _save_value(kinds.get(label), value) for label, value in raw["saves"].items()}
    return ResultData(raw["outcomes"] if has_counts else None, raw["counts"], raw.get("memory"), **saves)


def experiment_metadata(exp, options: dict) -> dict:
    """Aer's per-experiment metadata keys that depend on the compiled experiment only.

    ``measure_sampling`` is True when every measurement is at the end, so all shots
    were sampled from one final state (Aer's measure sampling); with a mid-circuit
    measurement, a reset or a quantum error the shots branch instead.
    """
    opcodes = exp.ops[:, COL_OPCODE]
    # A density matrix takes channels and resets exactly: only a mid-circuit measurement branches it.
    branching = (OP_MEASURE,) if exp.method in ("density_matrix", "superop") else (OP_MEASURE, OP_RESET, OP_CHANNEL)
    mid_circuit = bool(np.isin(opcodes, branching).any())
    active = exp.header.get("active_input_qubits")
    # A tableau and a chain are not fused (aerdask_kernels.passes.prepare).
    fusion = options.get("fusion_enable", True) and exp.method not in (
        "stabilizer",
        "matrix_product_state",
        "extended_stabilizer",
    )
    extra = {}
    if exp.method == "matrix_product_state":  # Aer's keys; the SVD is always LAPACK's (numpy's)
        extra = {
            "matrix_product_state_truncation_threshold": options.get(
                "matrix_product_state_truncation_threshold", 1e-16
            ),
            "matrix_product_state_max_bond_dimension": options.get("matrix_product_state_max_bond_dimension") or None,
            "matrix_product_state_sample_measure_algorithm": options.get(
                "mps_sample_measure_algorithm", "mps_heuristic"
            ),
            "matrix_product_state_lapack": True,
        }
    return {
        **extra,
        "method": exp.method,
        "device": options.get("device", "CPU"),
        "precision": options["precision"],
        "measure_sampling": exp.final_qubits.size > 0 and not mid_circuit,
        "num_qubits": exp.num_qubits,
        "active_input_qubits": list(range(exp.num_qubits)) if active is None else list(active),
        "num_clbits": exp.num_clbits,
        "parallel_shots": 1,
        "fusion": {"enabled": fusion, "applied": fusion and exp.ops.shape[0] > 1},
    }


def _header(header: dict) -> dict:
    if "active_input_qubits" in header:  # the compiler's note for the metadata, not a header field
        header = {k: v for k, v in header.items() if k != "active_input_qubits"}
    return header


def build_result(
    backend_name: str,
    backend_version: str,
    job_id: str,
    program,
    slots: list,
    raw_results: list[dict | None],
    time_taken: float = 0.0,
    error: str | None = None,
    metadata: dict | None = None,
    overrides: dict | None = None,
) -> Result:
    """Assemble the job's ``Result``: one experiment result per point, in index order.

    Args:
        backend_name: ``backend.name``.
        backend_version: ``backend.backend_version``.
        job_id: The job's id.
        program: The job's :class:`~aerdask_kernels.Program`.
        slots: ``(index, experiment, shots)`` per point (:func:`aerdask.chunking.result_slots`).
        raw_results: One merged raw dict per slot, ``None`` for a point that did not
            finish (it is left out and ``success`` is False).
        time_taken: Wall time of the job in seconds.
        error: Status message of a failed job.
        metadata: Extra keys of the ``Result``'s metadata.
        overrides: Keys that override every experiment's metadata.

    """
    results = []
    shared: dict[int, tuple] = {}  # the points of an experiment share its save kinds, header and metadata
    for (index, exp, shots), raw in zip(slots, raw_results, strict=True):
        if raw is None:
            continue
        known = shared.get(id(exp))
        if known is None:
            kinds = {save["label"]: save["kind"] for save in exp.saves}
            meta = {**experiment_metadata(exp, program.options), **(overrides or {})}
            if exp.method == "density_matrix":  # job-wide trajectory keys do not hold for a density matrix
                meta["measure_sampling"] = experiment_metadata(exp, program.options)["measure_sampling"]
            known = shared[id(exp)] = (kinds, _header(exp.header), meta)
        kinds, header, meta = known
        results.append(
            ExperimentResult(
                shots=shots,
                success=True,
                data=_data(raw, kinds, exp.num_clbits > 0),
                status="DONE",
                header=header,
                seed_simulator=raw["seed_simulator"],
                time_taken=raw["time_taken"],
                metadata={
                    **meta,
                    "index": index,
                    "parallel_state_update": raw.get("threads", 1),
                    "time_taken": raw["time_taken"],
                    "branch_copies": raw.get("branch_copies", 0),
                    "branch_replays": raw.get("branch_replays", 0),
                    # "python" where the kernels' source ran because compiling would take longer
                    "kernels": raw.get("kernels", "compiled"),
                    # A sharded run's shards, stages, exchanges and bytes exchanged (aerdask_kernels.sharded).
                    **({"sharding": raw["sharding"]} if "sharding" in raw else {}),
                    # What the engine reports (the matrix product state's truncation and log).
                    **raw.get("metadata", {}),
                },
            )
        )
    success = error is None and len(results) == len(slots)
    return Result(
        backend_name=backend_name,
        backend_version=backend_version,
        job_id=job_id,
        qobj_id=job_id,
        success=success,
        results=results,
        date=datetime.datetime.now().isoformat(),
        status="COMPLETED" if success else (error or "PARTIAL COMPLETED"),
        time_taken=time_taken,
        metadata={"omp_enabled": True, "parallel_experiments": 1, "time_taken": time_taken, **(metadata or {})},
    )
