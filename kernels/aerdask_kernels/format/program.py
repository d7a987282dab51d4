"""The program a worker runs: plain data, versioned, checked by ``validate()``.

A :class:`Program` (what ``AerJob.qobj()`` returns) is a list of :class:`Experiment`
plus a dict of run options. Each experiment is an opcode table over flat numpy
arrays (see :mod:`.opcodes`), so it pickles small, loads without pickle
(``save``/``load`` use ``.npz`` plus JSON), and is walked by compiled code without
touching Python objects.

An experiment is compiled once and run at one or more *points*: the rows of its
``values`` array (points x parameters). Gate parameters that depend on the
circuit's parameters refer to expressions (:mod:`.expressions`) that a worker
evaluates at each point before it builds the matrices and fuses the gates. Each
point is one result: point ``p`` is the job's experiment ``indices[p]`` and samples
from ``SeedSequence(seed_simulator + indices[p])`` (as Aer seeds experiment ``i``
with ``seed_simulator + i``), with ``spawn_key=(shot_chunk,)`` for a piece of a
shot-split experiment.
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import numpy as np

from .. import _jit
from .options import DEFAULTS, DEVICES, MEMORY_FORMATS, REQUIRED, ProgramOptions, validate_options  # noqa: F401  (names the format re-exports)
from .packing import ARRAY_FIELDS, pack_experiments, unpack_experiments
from .validation import MAX_SHOTS, QobjValidationError, validate_experiment

__all__ = ["FORMAT_VERSION", "Experiment", "Program", "QobjValidationError", "MAX_SHOTS", "no_points"]

#: Bumped whenever the meaning of a field changes; workers refuse other versions.
#: 2: STANDARD rows, parameter expressions and points; workers build matrices and fuse.
#: 3: CLASSICAL and SET_STATE rows, classical programs and variables, ``zero_threshold``,
#: seeds ``seed_simulator + index`` (Aer's), expval_var and density_matrix saves.
#: 4: CHANNEL rows and the channel tables, readout errors (noise models).
#: 5: ``method`` (statevector or density matrix), correlated readout errors (``readout_groups``).
#: 6: methods ``stabilizer`` (up to 65536 qubits), ``unitary`` and ``superop``; their save kinds
#: (``unitary``, ``superop``, ``stabilizer``, ``clifford``); SET_STATE ``ARG`` 1 (an operator).
#: 7: method ``matrix_product_state`` (its save kind, SET_STATE ``ARG`` 2: a chain) and its options.
#: 8: SET_STATE ``ARG`` 3: a density matrix (``set_density_matrix``).
FORMAT_VERSION = 8

#: Run options a program carries, with their types, and those it may leave out, with their
#: defaults: both read off :class:`.options.ProgramOptions`, where each is written once.
OPTION_TYPES = REQUIRED
OPTIONAL_OPTIONS = DEFAULTS


# Shared defaults: a batch of experiments without parameters allocates none of its own. They
# hold no element, so sharing them is safe; they stay writable because Numba compiles a
# kernel once more for a read-only argument.
_NO_VALUES = np.zeros((1, 0), dtype=np.float64)
_NO_INTS = np.zeros(0, dtype=np.int64)
_NO_CODE = np.zeros((0, 2), dtype=np.int64)
_NO_FLOATS = np.zeros(0, dtype=np.float64)
_NO_CHANNELS = np.zeros((0, 5), dtype=np.int64)
_NO_COMPLEX = np.zeros(0, dtype=np.complex128)
_NO_READOUT = np.zeros((0, 2), dtype=np.float64)
_NO_GROUPS = np.zeros((0, 2), dtype=np.int64)


def no_points(index: int) -> np.ndarray:
    """``indices`` of an experiment without parameters: its one point is experiment ``index``."""
    return np.array([index], dtype=np.int64)


@dataclasses.dataclass
class Experiment:
    """One circuit, compiled, and the points it runs at.

    Attributes:
        name: The circuit's name, echoed in the result header.
        num_qubits: Width of the state (``2**num_qubits`` amplitudes).
        num_clbits: Number of classical bits (memory slots).
        ops: int64, shape ``(n_ops, 8)``; the opcode table (:mod:`.opcodes`).
        qubits: int64, shape ``(m,)``; qubit and clbit indices referenced by ``ops``.
        matrices: complex128, shape ``(p,)``; flattened row-major matrices and diagonals.
        params: float64, shape ``(r,)``; gate parameters (STANDARD rows build their
            matrices from them; entries that ``param_expr`` marks are placeholders).
        final_qubits: int64, shape ``(f,)``; qubits measured at the end (sampled).
        final_clbits: int64, shape ``(f,)``; the clbit each final measurement writes.
        saves: One dict per SAVE op: ``kind``, ``label``, ``subtype``, ``qubits``, ``params``.
        header: JSON-able header for ``qiskit.result.Result`` (registers, name, metadata).
        shots: Shots of each point (a shot chunk holds part of the job's shots).
        indices: int64, shape ``(points,)``; each point's experiment number in the
            job (its result position, and its seed's spawn key).
        values: float64, shape ``(points, len(parameters))``; each point's parameter values.
        parameters: Names of the ``values`` columns (the circuit's parameters).
        param_expr: int64, shape ``(r,)`` or ``(0,)`` when every parameter is a
            constant; ``-1``, or the expression whose value ``params[i]`` takes.
        expr_code: int64, shape ``(c, 2)``; the expressions (:mod:`.expressions`).
        expr_start: int64, shape ``(k + 1,)``, or ``(0,)`` for none; expression ``e`` is
            ``expr_code[expr_start[e]:expr_start[e + 1]]``.
        expr_consts: float64; constants the expressions push.
        shot_chunk: ``-1`` for all the shots of each point, or ``j`` for chunk ``j``
            of a shot-split experiment (its samples come from spawn key ``(index, j)``).
        classical: Classical expression programs that CLASSICAL rows evaluate
            (:mod:`.classical`).
        num_vars: Extra clbits past ``num_clbits`` that hold classical variables and
            scratch conditions; never part of the counts.
        channels: int64, shape ``(c, 5)``; the quantum errors CHANNEL rows apply, columns
            ``CHAN_*`` of :mod:`.opcodes`: kind (mixture or Kraus), operator count ``n``,
            offset of its ``n`` operators (``2**k x 2**k``, row-major) in ``chan_matrices``,
            offset of a mixture's ``n`` probabilities in ``chan_probs``, identity index.
        chan_matrices: complex128; the channels' operators.
        chan_probs: float64; the mixtures' probabilities.
        readout: float64, shape ``(r, 2)``; readout errors ``[P(read 1 | 0), P(read 0 | 1)]``,
            used by MEASURE rows (``ARG2 - 1``) and by ``final_readout``.
        final_readout: int64, shape ``(f,)`` or ``(0,)`` for none; per final measurement,
            its readout error or -1.
        readout_groups: int64, shape ``(g, 2)``; correlated readout errors of final multi-qubit
            measurements: offset in ``group_matrices`` and size ``2**k`` of group ``g``'s matrix
            ``P(read j | measured i)``; its members are the final measurements whose
            ``final_readout`` is ``-2 - g``, bit ``b`` of ``i`` and ``j`` being the ``b``-th of them.
        group_matrices: float64; the groups' matrices, row-major.
        method: ``"statevector"`` (shots as trajectories), ``"density_matrix"``
            (:mod:`.density`: the mixed state, ``4**num_qubits`` entries, channels exact),
            ``"stabilizer"`` (a Clifford tableau: :mod:`.cpu.stabilizer`), ``"unitary"`` or
            ``"superop"`` (the circuit's operator: :mod:`.cpu.operator`) or
            ``"matrix_product_state"`` (a chain of tensors: :mod:`.cpu.mps`).

    """

    name: str
    num_qubits: int
    num_clbits: int
    ops: np.ndarray
    qubits: np.ndarray
    matrices: np.ndarray
    params: np.ndarray
    final_qubits: np.ndarray
    final_clbits: np.ndarray
    saves: list = dataclasses.field(default_factory=list)
    header: dict = dataclasses.field(default_factory=dict)
    shots: int = 1024
    indices: np.ndarray = dataclasses.field(default_factory=lambda: no_points(0))
    values: np.ndarray = dataclasses.field(default_factory=lambda: _NO_VALUES)
    parameters: list = dataclasses.field(default_factory=list)
    param_expr: np.ndarray = dataclasses.field(default_factory=lambda: _NO_INTS)
    expr_code: np.ndarray = dataclasses.field(default_factory=lambda: _NO_CODE)
    expr_start: np.ndarray = dataclasses.field(default_factory=lambda: _NO_INTS)
    expr_consts: np.ndarray = dataclasses.field(default_factory=lambda: _NO_FLOATS)
    shot_chunk: int = -1
    classical: list = dataclasses.field(default_factory=list)
    num_vars: int = 0
    channels: np.ndarray = dataclasses.field(default_factory=lambda: _NO_CHANNELS)
    chan_matrices: np.ndarray = dataclasses.field(default_factory=lambda: _NO_COMPLEX)
    chan_probs: np.ndarray = dataclasses.field(default_factory=lambda: _NO_FLOATS)
    readout: np.ndarray = dataclasses.field(default_factory=lambda: _NO_READOUT)
    final_readout: np.ndarray = dataclasses.field(default_factory=lambda: _NO_INTS)
    readout_groups: np.ndarray = dataclasses.field(default_factory=lambda: _NO_GROUPS)
    group_matrices: np.ndarray = dataclasses.field(default_factory=lambda: _NO_FLOATS)
    method: str = "statevector"

    @property
    def noisy(self) -> bool:
        """Whether the experiment has quantum or readout errors (its shots are trajectories)."""
        return self.channels.shape[0] > 0 or self.readout.shape[0] > 0 or self.readout_groups.shape[0] > 0

    @property
    def index(self) -> int:
        """The first point's experiment number (names the experiment in messages)."""
        return int(self.indices[0])

    @property
    def num_points(self) -> int:
        """How many results this experiment gives (rows of ``values``)."""
        return int(self.values.shape[0])

    @property
    def parameterized(self) -> bool:
        """Whether some gate parameter is an expression of the point's values."""
        return self.expr_start.size > 1

    def seed_key(self, point: int) -> tuple:
        """Spawn key of point ``point``'s ``SeedSequence``."""
        index = int(self.indices[point])
        return (index,) if self.shot_chunk < 0 else (index, self.shot_chunk)

    def points(self, start: int, stop: int) -> Experiment:
        """The same experiment at points ``start:stop`` only (arrays shared, not copied)."""
        return dataclasses.replace(self, values=self.values[start:stop], indices=self.indices[start:stop])

    def meta(self) -> dict:
        """Everything but the arrays, as JSON-able data."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ARRAY_FIELDS}

    def replace(self, **changes: Any) -> Experiment:
        """A shallow copy with some fields changed (arrays are shared, not copied)."""
        return dataclasses.replace(self, **changes)

    def without_header(self) -> Experiment:
        """A shallow copy without the result header, which only the client needs."""
        copy = object.__new__(Experiment)
        copy.__dict__.update(self.__dict__)
        copy.header = {}
        return copy

    def validate(self) -> None:
        """Check shapes, dtypes and every index.

        Raises:
            QobjValidationError: naming the experiment and what is wrong.

        """
        validate_experiment(self)


@dataclasses.dataclass
class Program:
    """The qobj: compiled experiments plus run options.

    Attributes:
        experiments: The compiled circuits, in input order; their points, in order,
            are the job's results (pieces of a shot-split experiment share an index).
        options: Run options: ``shots`` (int), ``memory`` (bool), ``precision``
            (``"double"`` or ``"single"``), ``seed_simulator`` (int) and
            ``max_parallel_threads`` (int, 0 means all cores); optionally
            ``blocking_qubits`` (int: -1 automatic, 0 no cache blocking, ``k`` blocks of
            ``k`` qubits whenever the state is wider; see :mod:`.blocking`),
            ``fusion_enable`` (bool, default True) and ``memory_format`` (``"hex"``, the
            default, or ``"bits"``).
        version: The program format version (:data:`FORMAT_VERSION`).
        job_id: Set by the job at submission; names the job in errors.

    """

    experiments: list
    options: dict
    version: int = FORMAT_VERSION
    job_id: str = ""

    def validate(self) -> None:
        """Check the whole program.

        Raises:
            QobjValidationError: naming the experiment or option that is wrong.

        """
        if self.version != FORMAT_VERSION:
            raise QobjValidationError(
                f"program format version {self.version!r} is not supported; "
                f"this aerdask_kernels reads version {FORMAT_VERSION}"
            )
        if not isinstance(self.experiments, list) or not self.experiments:
            raise QobjValidationError("a program needs at least one experiment")
        self._validate_options()
        rows = sum(getattr(getattr(exp, "ops", None), "shape", (0,))[0] for exp in self.experiments)
        with _jit.kernels_for_rows(rows, self.options["precision"]):
            self._validate_experiments()

    def _validate_experiments(self) -> None:
        for exp in self.experiments:
            if not isinstance(exp, Experiment):
                raise QobjValidationError(f"experiments must be Experiment objects, got {type(exp).__name__}")
            exp.validate()

    def _validate_options(self) -> None:
        validate_options(self.options)

    @property
    def typed_options(self) -> ProgramOptions:
        """:attr:`options` as a :class:`.options.ProgramOptions` (defaults filled in)."""
        return ProgramOptions.from_dict(self.options)

    def replace(self, **changes: Any) -> Program:
        """A shallow copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def without_headers(self) -> Program:
        """The program as a task needs it: the experiments without their result headers."""
        return self.replace(experiments=[exp.without_header() for exp in self.experiments])

    def __getstate__(self) -> dict:
        # Packed: a few long arrays pickle much faster than a dozen small ones per experiment.
        state = dict(self.__dict__)
        if len(self.experiments) > 1:  # one experiment pickles as fast as it packs
            state["experiments"] = pack_experiments(self.experiments)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["experiments"] = unpack_experiments(state["experiments"], Experiment)
        self.__dict__.update(state)

    @property
    def shots(self) -> int:
        """Total shots over all points of all experiments."""
        return sum(exp.shots * exp.num_points for exp in self.experiments)

    @property
    def num_points(self) -> int:
        """Points over all experiments (results, counting each piece of a shot split)."""
        return sum(exp.num_points for exp in self.experiments)

    def points(self, start: int, stop: int) -> Program:
        """The program of points ``start:stop``, counted over its experiments in order (arrays shared)."""
        out, first = [], 0
        for exp in self.experiments:
            lo, hi = max(start - first, 0), min(stop - first, exp.num_points)
            if lo < hi:
                out.append(exp if (lo, hi) == (0, exp.num_points) else exp.points(lo, hi))
            first += exp.num_points
        return self.replace(experiments=out)

    # -- pickle-free file format ------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise to ``.npz`` bytes: arrays as arrays, everything else as JSON."""
        meta = {
            "version": self.version,
            "job_id": self.job_id,
            "options": self.options,
            "experiments": [exp.meta() for exp in self.experiments],
        }
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for i, exp in enumerate(self.experiments):
            for field in ARRAY_FIELDS:
                arrays[f"{i}/{field}"] = getattr(exp, field)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Program:
        """Inverse of :meth:`to_bytes`; never unpickles.

        Raises:
            QobjValidationError: if the data is not a program file.

        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode())
                experiments = []
                for i, m in enumerate(meta["experiments"]):
                    arrays = {field: npz[f"{i}/{field}"] for field in ARRAY_FIELDS}
                    experiments.append(Experiment(**m, **arrays))
        except (KeyError, ValueError, OSError, TypeError) as exc:
            raise QobjValidationError(f"not an aerdask program file: {exc}") from exc
        return cls(experiments=experiments, options=meta["options"], version=meta["version"], job_id=meta["job_id"])

    def save(self, path) -> None:
        """Write the program to ``path`` (``.npz``, no pickle)."""
        with open(path, "wb") as fh:
            fh.write(self.to_bytes())

    @classmethod
    def load(cls, path) -> Program:
        """Read a program written by :meth:`save`."""
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read())
