"""Noise models as plain data: quantum errors after instructions, readout errors at measurements.

A :class:`NoiseModel` here needs no qiskit-aer: its errors are ``qiskit.quantum_info`` channels
(``Kraus``, ``SuperOp``, ``Choi``, ``Operator``...) attached to instruction names and qubits, with
the method names of Aer's ``NoiseModel``. :func:`as_noise_model` also reads Aer's own
``qiskit_aer.noise.NoiseModel`` (quantum errors of every kind, readout errors, all-qubit and
per-qubit), so ``AerSimulator(noise_model=NoiseModel.from_backend(backend))`` moves unchanged.

Each error becomes a :class:`Channel`: a *mixture* of unitaries with fixed probabilities (what
depolarizing and Pauli errors are; trajectories sample them up front), or a set of *Kraus*
operators (amplitude damping, thermal relaxation, resets; trajectories sample them from the
state's norms). Both travel in the program as matrices and numbers, so workers import no qiskit.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .errors import AerdaskInputError

__all__ = ["Channel", "NoiseModel", "as_noise_model", "readout_flips"]

#: Tolerance of the CPTP, probability and readout checks.
ATOL = 1e-8
MIXTURE, KRAUS = 0, 1


@dataclasses.dataclass(frozen=True)
class Channel:
    """One quantum error on ``num_qubits`` qubits, as plain data.

    Attributes:
        kind: :data:`MIXTURE` (apply ``matrices[i]`` with probability ``probabilities[i]``) or
            :data:`KRAUS` (``matrices`` are Kraus operators; probabilities come from the state).
        matrices: complex128, shape ``(n, 2**k, 2**k)``.
        probabilities: float64, shape ``(n,)`` for a mixture, ``(0,)`` for Kraus operators.
        identity: Index of the identity in a mixture (its shots need no work), or -1.
    """

    kind: int
    matrices: np.ndarray
    probabilities: np.ndarray
    identity: int = -1

    @property
    def num_qubits(self) -> int:
        """Qubits the channel acts on."""
        return int(self.matrices.shape[1]).bit_length() - 1

    def validate(self, where: str) -> Channel:
        """Check a channel built by hand as :func:`as_channel` checks its own; returns ``self``.

        Raises:
            AerdaskInputError: an unknown kind, operators that are not ``2**k`` square
                matrices or hold NaN, a mixture whose probabilities are not a distribution
                or whose operators are not unitary, or Kraus operators that are not CPTP.
        """
        mats = np.asarray(self.matrices)
        if self.kind not in (MIXTURE, KRAUS):
            raise AerdaskInputError(
                f"{where}: channel kind {self.kind!r}, allowed MIXTURE ({MIXTURE}) or KRAUS ({KRAUS})"
            )
        dim = mats.shape[1] if mats.ndim == 3 else 0
        if mats.ndim != 3 or dim < 2 or dim & (dim - 1) or mats.shape[2] != dim or not len(mats):
            raise AerdaskInputError(f"{where}: operators must have shape (n, 2**k, 2**k), got {mats.shape}")
        if not np.isfinite(mats).all():
            raise AerdaskInputError(f"{where}: an operator holds NaN or infinity")
        if self.kind == KRAUS:
            _check_cptp(list(mats), where)
            return self
        probs = np.asarray(self.probabilities, dtype=np.float64)
        if probs.shape != (len(mats),) or not _is_distribution(probs):
            raise AerdaskInputError(
                f"{where}: a mixture of {len(mats)} unitaries needs {len(mats)} probabilities in [0, 1] summing "
                f"to 1, got {probs.tolist()}"
            )
        for i, u in enumerate(mats):
            if not np.allclose(u.conj().T @ u, np.eye(dim), atol=1e-6):
                raise AerdaskInputError(f"{where}: operator {i} of a unitary mixture is not unitary")
        if not -1 <= self.identity < len(mats):
            raise AerdaskInputError(f"{where}: identity index {self.identity} outside -1..{len(mats) - 1}")
        return self


def _is_distribution(probs: np.ndarray) -> bool:
    return bool(np.isfinite(probs).all() and (probs >= -ATOL).all() and (probs <= 1 + ATOL).all()) and (
        abs(probs.sum() - 1) <= 1e-6
    )


def _as_mixture(kraus: list[np.ndarray]) -> Channel | None:
    """Kraus operators that are all multiples of unitaries are a unitary mixture."""
    dim = kraus[0].shape[0]
    probs, unitaries, identity = [], [], -1
    for k in kraus:
        p = float(np.real(np.trace(k.conj().T @ k))) / dim
        if p <= 0:
            continue
        u = k / np.sqrt(p)
        if not np.allclose(u.conj().T @ u, np.eye(dim), atol=ATOL):
            return None
        phase = u[0, 0] / abs(u[0, 0]) if abs(u[0, 0]) > ATOL else 1
        if identity < 0 and np.allclose(u, phase * np.eye(dim), atol=ATOL):
            identity = len(unitaries)
        probs.append(p)
        unitaries.append(u)
    probs = np.array(probs)
    return Channel(MIXTURE, np.array(unitaries, dtype=np.complex128), probs / probs.sum(), identity)


def _check_cptp(kraus: list[np.ndarray], where: str) -> None:
    dim = kraus[0].shape[0]
    total = sum(k.conj().T @ k for k in kraus)
    if not np.allclose(total, np.eye(dim), atol=1e-6):
        raise AerdaskInputError(
            f"{where}: the channel is not trace preserving (sum of K^dagger K differs from the identity by "
            f"{np.abs(total - np.eye(dim)).max():.3g}); only CPTP channels are allowed"
        )


def _aer_error(error) -> bool:
    return type(error).__module__.startswith("qiskit_aer") and hasattr(error, "probabilities")


def as_channel(error, where: str) -> Channel:
    """A :class:`Channel` from a qiskit-aer ``QuantumError`` or a ``qiskit.quantum_info`` channel or operator.

    Args:
        error: ``QuantumError``, ``Kraus``/``SuperOp``/``Choi``/any ``QuantumChannel``, ``Operator``, or a
            unitary matrix.
        where: Names the error in messages (instruction and qubits).

    Raises:
        AerdaskInputError: probabilities outside [0, 1] or not summing to 1, or a channel that is not CPTP.
    """
    from qiskit.quantum_info import Kraus, Operator
    from qiskit.quantum_info.operators.channel.quantum_channel import QuantumChannel

    if type(error).__module__.startswith("qiskit_aer") and hasattr(error, "to_quantum_error"):
        error = error.to_quantum_error()  # Aer's PauliLindbladError: a Pauli mixture
    if _aer_error(error):
        probs = np.asarray(error.probabilities, dtype=np.float64)
        if (probs < -ATOL).any() or (probs > 1 + ATOL).any() or abs(probs.sum() - 1) > 1e-6:
            raise AerdaskInputError(f"{where}: error probabilities {probs.tolist()} must lie in [0, 1] and sum to 1")
        try:
            unitaries = [Operator(circuit).data for circuit in error.circuits]
        except Exception:  # a Kraus or reset component: the whole error as Kraus operators
            unitaries = None
        if unitaries is not None:
            kraus = [np.sqrt(max(p, 0.0)) * u for p, u in zip(probs, unitaries, strict=True)]
        else:
            kraus = list(Kraus(error.to_quantumchannel()).data)
    elif isinstance(error, QuantumChannel):
        # Checked before the conversion, which would fail on a non-CP map with a message about shapes.
        if not error.is_cp(atol=1e-6):
            raise AerdaskInputError(f"{where}: the channel is not completely positive; only CPTP channels are allowed")
        if not error.is_tp(atol=1e-6):
            raise AerdaskInputError(f"{where}: the channel is not trace preserving; only CPTP channels are allowed")
        kraus = list(Kraus(error).data)
    else:
        try:
            kraus = [np.asarray(Operator(error).data, dtype=np.complex128)]
        except Exception as exc:
            raise AerdaskInputError(
                f"{where}: a noise error must be a qiskit_aer QuantumError, a qiskit.quantum_info channel "
                f"(Kraus, SuperOp, Choi, ...) or a unitary Operator, got {type(error).__name__}"
            ) from exc
    kraus = [np.asarray(k, dtype=np.complex128) for k in kraus]
    dim = kraus[0].shape[0] if kraus and kraus[0].ndim == 2 else 0
    if dim < 2 or dim & (dim - 1) or any(k.shape != (dim, dim) for k in kraus):
        raise AerdaskInputError(f"{where}: Kraus operators must be square matrices of size 2**k")
    if not all(np.isfinite(k).all() for k in kraus):
        raise AerdaskInputError(f"{where}: an operator holds NaN or infinity")
    _check_cptp(kraus, where)
    mixture = _as_mixture(kraus)
    if mixture is not None:
        return mixture
    return Channel(KRAUS, np.array(kraus), np.zeros(0, dtype=np.float64))


#: Aer's default noise-model basis: every standard gate unrolls to these, and identities stay.
DEFAULT_BASIS_GATES = ("cx", "id", "rz", "sx")


def _names(instructions) -> list[str]:
    """Names of ``instructions``: a name, or a list of names and ``Instruction`` objects."""
    if isinstance(instructions, str):
        return [instructions]
    return [getattr(inst, "name", inst) for inst in instructions]


@functools.cache
def _standard_widths() -> dict[str, int]:
    from qiskit.circuit.library import get_standard_gate_name_mapping

    return {name: gate.num_qubits for name, gate in get_standard_gate_name_mapping().items()}


def _standard_width(name: str) -> int | None:
    """Qubits of Qiskit's standard instruction ``name`` (``None`` for any other name)."""
    return _standard_widths().get(name)


def readout_matrix(probabilities, where: str, num_qubits: int) -> np.ndarray:
    """A ``2**k x 2**k`` readout matrix ``P(read j | measured i)``, checked: float64.

    Raises:
        AerdaskInputError: the wrong shape, an entry outside [0, 1], or a row that does not sum to 1.
    """
    matrix = np.asarray(getattr(probabilities, "probabilities", probabilities), dtype=np.float64)
    dim = 1 << num_qubits
    if matrix.shape != (dim, dim):
        qubits = f"{num_qubits} qubit" + ("s" if num_qubits > 1 else "")
        raise AerdaskInputError(f"{where}: a readout error of {qubits} is {dim}x{dim}, got shape {matrix.shape}")
    if (matrix < -ATOL).any() or (matrix > 1 + ATOL).any() or not np.allclose(matrix.sum(axis=1), 1, atol=1e-6):
        raise AerdaskInputError(
            f"{where}: readout probabilities {matrix.tolist()} must lie in [0, 1] with rows summing to 1"
        )
    matrix = matrix.clip(0, 1)
    return matrix / matrix.sum(axis=1, keepdims=True)


def readout_flips(probabilities, where: str) -> np.ndarray:
    """``[P(read 1 | 0), P(read 0 | 1)]`` from a one-qubit readout matrix ``P(read j | prepared i)``.

    Raises:
        AerdaskInputError: not 2x2, an entry outside [0, 1], or a row that does not sum to 1.
    """
    matrix = readout_matrix(probabilities, where, 1)
    return np.array([matrix[0, 1], matrix[1, 0]], dtype=np.float64)


class NoiseModel:
    """Quantum errors after named instructions and readout errors at measurements.

    The methods are those of ``qiskit_aer.noise.NoiseModel``; errors are ``qiskit.quantum_info``
    channels or Aer ``QuantumError`` objects, readout errors 2x2 matrices ``P(read j | prepared i)``
    or Aer ``ReadoutError`` objects. A per-qubit error replaces the all-qubit one of that
    instruction on those qubits, as in Aer. Errors are checked (CPTP, probabilities) when added.
    """

    def __init__(self, basis_gates=None):
        # Aer's: the gates ``transpile`` should leave in a circuit for these errors to apply (a
        # simulator with this model advertises those of its gates). Default ``cx id rz sx``,
        # which every standard gate unrolls to; adding an error adds its gate.
        self._basis_gates = set(DEFAULT_BASIS_GATES if basis_gates is None else _names(basis_gates))
        self.default_errors: dict[str, list[Channel]] = {}
        self.local_errors: dict[tuple[str, tuple[int, ...]], list[Channel]] = {}
        self.default_readout: np.ndarray | None = None
        self.local_readout: dict[int, np.ndarray] = {}
        self.group_readout: dict[tuple[int, ...], np.ndarray] = {}  # correlated, of multi-qubit measurements

    @property
    def basis_gates(self) -> list[str]:
        """The gate names a simulator with this model advertises (with its method's), sorted (Aer's)."""
        return sorted(self._basis_gates)

    def add_basis_gates(self, instructions) -> None:
        """Add the gates among ``instructions`` (names or ``Instruction`` objects) to :attr:`basis_gates`.

        As in Aer, only gates the simulator runs are added: a custom label, a measurement or a
        channel is not a basis gate.
        """
        from .instructions import INSTRUCTIONS

        for name in _names(instructions):
            spec = INSTRUCTIONS.get(name)
            if spec is not None and (spec.kind == "gate" or name == "id"):
                self._basis_gates.add(name)

    def add_all_qubit_quantum_error(self, error, instructions) -> None:
        """Apply ``error`` after every instruction named in ``instructions``, on any qubits.

        Raises:
            AerdaskInputError: an invalid error, or one whose width differs from a standard
                instruction's (a 2-qubit error on ``x``), as Aer's ``NoiseError``.
        """
        for name in [instructions] if isinstance(instructions, str) else instructions:
            where = f"noise on {name!r}"
            channel = error.validate(where) if isinstance(error, Channel) else as_channel(error, where)
            width = _standard_width(name)
            if width is not None and channel.num_qubits != width:
                raise AerdaskInputError(
                    f"{where}: a {channel.num_qubits}-qubit error cannot follow the {width}-qubit instruction {name!r}"
                )
            self.default_errors.setdefault(name, []).append(channel)
            self.add_basis_gates([name])

    def add_quantum_error(self, error, instructions, qubits) -> None:
        """Apply ``error`` after the instructions named in ``instructions`` on exactly ``qubits``."""
        qubits = tuple(int(q) for q in qubits)
        for name in [instructions] if isinstance(instructions, str) else instructions:
            where = f"noise on {name!r} qubits {list(qubits)}"
            channel = error.validate(where) if isinstance(error, Channel) else as_channel(error, where)
            if channel.num_qubits != len(qubits):
                raise AerdaskInputError(f"{where}: a {channel.num_qubits}-qubit error on {len(qubits)} qubits")
            self.local_errors.setdefault((name, qubits), []).append(channel)
            self.add_basis_gates([name])

    def add_all_qubit_readout_error(self, error) -> None:
        """Flip measured bits of every qubit with ``error``'s probabilities."""
        self.default_readout = readout_flips(error, "all-qubit readout error")

    def add_readout_error(self, error, qubits) -> None:
        """Misread the measurements of ``qubits`` with ``error``'s probabilities ``P(read j | measured i)``.

        On one qubit, every measurement of it. On ``k`` qubits, a ``2**k x 2**k`` correlated error
        of the measurement instructions on exactly those qubits, in that order (bit ``b`` of ``i``
        and ``j`` is ``qubits[b]``), as in Aer; aerdask applies those at the end of a circuit.
        """
        qubits = [int(q) for q in qubits]
        where = f"readout error on qubits {qubits}"
        if len(qubits) == 1:
            self.local_readout[qubits[0]] = readout_flips(error, where)
            return
        if len(set(qubits)) != len(qubits):
            raise AerdaskInputError(f"{where}: the qubits must be distinct")
        self.group_readout[tuple(qubits)] = readout_matrix(error, where, len(qubits))

    # -- lookups used by the compiler -------------------------------------------
    def errors_for(self, name: str, qubits: tuple[int, ...]) -> list[Channel]:
        """The channels to apply after ``name`` on ``qubits`` (per-qubit ones replace all-qubit ones).

        Raises:
            AerdaskInputError: an all-qubit error of ``name`` is wider or narrower than this
                instruction (never dropped silently).
        """
        local = self.local_errors.get((name, qubits))
        if local is not None:
            return local
        channels = self.default_errors.get(name, ())
        for channel in channels:
            if channel.num_qubits != len(qubits):
                raise AerdaskInputError(
                    f"noise on {name!r}: a {channel.num_qubits}-qubit all-qubit error cannot follow {name!r} on "
                    f"{len(qubits)} qubits {list(qubits)}; add it with add_quantum_error for the qubits it fits"
                )
        return list(channels)

    def group_readout_for(self, qubits: tuple[int, ...]) -> np.ndarray | None:
        """The correlated readout matrix of a measurement of exactly ``qubits``, or ``None``."""
        return self.group_readout.get(tuple(qubits)) if len(qubits) > 1 else None

    def readout_for(self, qubit: int) -> np.ndarray | None:
        """``[P(1|0), P(0|1)]`` of ``qubit``'s measurements, or ``None``."""
        return self.local_readout.get(qubit, self.default_readout)

    def digest(self) -> str:
        """SHA-256 of every error in the model: equal for models that give the same results."""
        import hashlib

        h = hashlib.sha256()

        def add(label, channels) -> None:
            h.update(repr(label).encode())
            for c in channels:
                h.update(repr((c.kind, c.identity, c.matrices.shape)).encode())
                h.update(np.ascontiguousarray(c.matrices, dtype=np.complex128).tobytes())
                h.update(np.ascontiguousarray(c.probabilities, dtype=np.float64).tobytes())

        for name in sorted(self.default_errors):
            add(("all", name), self.default_errors[name])
        for key in sorted(self.local_errors):
            add(("local", key), self.local_errors[key])
        readouts = [("all", self.default_readout)] + sorted(self.local_readout.items())
        readouts += sorted(self.group_readout.items())
        for key, matrix in readouts:
            h.update(repr(("readout", key)).encode())
            if matrix is not None:
                h.update(np.ascontiguousarray(matrix, dtype=np.float64).tobytes())
        return h.hexdigest()

    @property
    def has_quantum_errors(self) -> bool:
        """Whether some instruction has a quantum error (readout errors aside)."""
        return bool(self.default_errors or self.local_errors)

    @property
    def is_ideal(self) -> bool:
        """Whether the model holds no error at all."""
        errors = self.default_errors or self.local_errors or self.local_readout or self.group_readout
        return not errors and self.default_readout is None

    @classmethod
    def from_backend(
        cls, backend, gate_error: bool = True, readout_error: bool = True, thermal_relaxation: bool = True
    ) -> NoiseModel:
        """The device noise of a ``BackendV2``'s target, as Aer's ``NoiseModel.from_backend`` builds it.

        See :mod:`aerdask.device_noise`: thermal relaxation over each instruction's duration
        and a depolarizing error for the rest of its reported error, and symmetric readout
        errors from the measurement errors.

        Raises:
            AerdaskInputError: ``backend`` has no ``target``, or its properties are unphysical.
        """
        from qiskit.transpiler import Target

        from .device_noise import device_errors, readout_errors

        target = getattr(backend, "target", None)
        if not isinstance(target, Target):
            raise AerdaskInputError(f"from_backend needs a BackendV2 with a target, got {type(backend).__name__}")
        out = cls(basis_gates=target.operation_names)  # Aer's: the device's operations
        for name, qubits, channels in device_errors(target, gate_error, thermal_relaxation):
            for channel in channels:
                out.add_quantum_error(channel, [name], qubits)
        if readout_error:
            for qubit, matrix in readout_errors(target):
                out.add_readout_error(matrix, [qubit])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NoiseModel:
        """The model ``qiskit_aer.noise.NoiseModel.to_dict(serializable=True)`` wrote (and JSON kept).

        Quantum errors are mixtures of instruction lists (gates, ``pauli``, ``unitary``,
        ``kraus``, ``reset``) on the error's own qubits; readout errors are matrices, each
        on all qubits or on the ``gate_qubits`` given. qiskit-aer is not needed to read one.

        Raises:
            AerdaskInputError: for a malformed entry or an instruction it cannot read, naming
                the entry.
        """
        model = cls()
        errors = data.get("errors") if isinstance(data, dict) else None
        if not isinstance(errors, list):
            raise AerdaskInputError("a noise model dict holds 'errors': a list (NoiseModel.to_dict's form)")
        for i, entry in enumerate(errors):
            where = f"noise model error {i}"
            try:
                kind, operations = entry["type"], list(entry["operations"])
                gate_qubits = entry.get("gate_qubits")
                if kind == "roerror":
                    matrix = np.asarray(entry["probabilities"], dtype=np.float64)
                    if gate_qubits is None:
                        model.add_all_qubit_readout_error(matrix)
                    for qubits in gate_qubits or ():
                        model.add_readout_error(matrix, qubits)
                    continue
                if kind != "qerror":
                    raise AerdaskInputError(f"{where}: type {kind!r}; known: 'qerror', 'roerror'")
                error = _dict_error(entry["instructions"], entry["probabilities"], where)
            except (KeyError, TypeError, ValueError) as exc:
                raise AerdaskInputError(f"{where}: not an entry of NoiseModel.to_dict ({exc!r})") from None
            if gate_qubits is None:
                model.add_all_qubit_quantum_error(error, operations)
            for qubits in gate_qubits or ():
                model.add_quantum_error(error, operations, qubits)
        return model

    @classmethod
    def from_aer(cls, noise_model) -> NoiseModel:
        """Read a ``qiskit_aer.noise.NoiseModel``: its quantum and readout errors, all-qubit and local.

        Raises:
            AerdaskInputError: an error aerdask cannot run (a correlated readout error of several
                qubits), or an invalid one.
        """
        out = cls(basis_gates=getattr(noise_model, "basis_gates", None))
        for name, error in getattr(noise_model, "_default_quantum_errors", {}).items():
            out.add_all_qubit_quantum_error(error, [name])
        for name, by_qubits in getattr(noise_model, "_local_quantum_errors", {}).items():
            for qubits, error in by_qubits.items():
                out.add_quantum_error(error, [name], qubits)
        default_readout = getattr(noise_model, "_default_readout_error", None)
        if default_readout is not None:
            out.add_all_qubit_readout_error(default_readout)
        for qubits, error in getattr(noise_model, "_local_readout_errors", {}).items():
            out.add_readout_error(error, qubits)
        return out


def _dict_matrix(value) -> np.ndarray:
    """A complex matrix from JSON: ``[re, im]`` pairs (Aer's serializable form) or plain numbers."""
    array = np.asarray(value, dtype=np.float64) if not np.iscomplexobj(value) else np.asarray(value)
    if array.dtype.kind == "f" and array.ndim == 3 and array.shape[-1] == 2:
        return array[..., 0] + 1j * array[..., 1]
    return np.asarray(array, dtype=np.complex128)


def _dict_instruction(instruction: dict, where: str):
    """One instruction of a ``to_dict`` error as a ``qiskit.quantum_info`` channel on its own qubits."""
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit.quantum_info import Kraus, Operator, Pauli

    name, params = instruction["name"], instruction.get("params", [])
    if name == "kraus":
        return Kraus([_dict_matrix(m) for m in params])
    if name == "reset":
        return Kraus([np.array([[1, 0], [0, 0]]), np.array([[0, 1], [0, 0]])])
    if name == "unitary":
        return Kraus(Operator(_dict_matrix(params[0])))
    if name == "pauli":
        return Kraus(Operator(Pauli(params[0])))
    gates = get_standard_gate_name_mapping()
    if name == "i":
        name = "id"
    if name not in gates:
        raise AerdaskInputError(f"{where}: instruction {name!r} is not a gate, pauli, unitary, kraus or reset")
    gate = gates[name] if not params else type(gates[name])(*params)
    return Kraus(Operator(gate))


def _dict_error(circuits: list, probabilities: list, where: str):
    """The Kraus channel of a ``to_dict`` quantum error: ``sqrt(p)`` times each circuit's operators."""
    from qiskit.quantum_info import Kraus

    width = 1 + max(q for circuit in circuits for inst in circuit for q in inst["qubits"])
    operators = []
    for p, circuit in zip(probabilities, circuits, strict=True):
        channel = Kraus(np.eye(1 << width))
        for instruction in circuit:
            channel = channel.compose(_dict_instruction(instruction, where), qargs=list(instruction["qubits"]))
        operators.extend(np.sqrt(max(float(p), 0.0)) * k for k in channel.data)
    return Kraus(operators)


def as_noise_model(value) -> NoiseModel | None:
    """``None``, or the :class:`NoiseModel` for an aerdask or qiskit-aer noise model.

    Raises:
        AerdaskInputError: ``value`` is neither, or holds an invalid or unsupported error.
    """
    if value is None or isinstance(value, NoiseModel):
        return None if value is None or value.is_ideal else value
    if type(value).__module__.startswith("qiskit_aer") and hasattr(value, "_default_quantum_errors"):
        model = NoiseModel.from_aer(value)
        return None if model.is_ideal else model
    raise AerdaskInputError(
        f"noise_model must be None, an aerdask.noise.NoiseModel or a qiskit_aer.noise.NoiseModel, "
        f"got {type(value).__name__}"
    )
