"""The one table of supported instructions.

The compiler looks every instruction up here to decide how it runs, and the
backend's ``Target`` is built from the same table, so what the backend claims and
what the compiler accepts cannot drift apart.

Kinds:
    gate: a unitary with a matrix (``to_matrix()``), run by a matrix or diagonal kernel.
    directive: no effect on the state (``barrier``, ``delay``, ``id``).
    measure, reset, global_phase, initialize, state_preparation: their own handling.
    control_flow: ``if_else``, ``switch_case``, ``for_loop``, ``while_loop``,
        ``break_loop``, ``continue_loop``.
    save: Aer's save instructions (``aerdask.library`` or qiskit-aer's).
    set_state: Aer's ``set_statevector``; set_unitary, set_stabilizer, set_superop,
        set_density_matrix, set_matrix_product_state: the other methods' ``set_*``.
    store: a classical ``Store`` (Qiskit's ``QuantumCircuit.store``).
    multiplexer: Aer's uniformly controlled gate: one matrix per value of the controls.

Gates outside the table still run when they have a matrix (generic k-qubit
kernel) or a definition (inlined); they just are not advertised in the ``Target``.
"""

from __future__ import annotations

import dataclasses

from qiskit.circuit import (
    Barrier,
    BreakLoopOp,
    ContinueLoopOp,
    ForLoopOp,
    IfElseOp,
    Instruction,
    Store,
    SwitchCaseOp,
    WhileLoopOp,
)
from qiskit.circuit.library import (
    DiagonalGate,
    Initialize,
    MCPhaseGate,
    MCU1Gate,
    MCXGate,
    PauliGate,
    StatePreparation,
    UCGate,
    UnitaryGate,
    get_standard_gate_name_mapping,
)

from . import library

__all__ = [
    "InstructionSpec",
    "INSTRUCTIONS",
    "SAVE_KINDS",
    "lookup",
    "names_of_kind",
    "supported_summary",
]


@dataclasses.dataclass(frozen=True)
class InstructionSpec:
    """How one instruction name is run and advertised.

    Attributes:
        name: The instruction name as Qiskit spells it.
        kind: How the compiler handles it (see the module docs).
        target_entry: An instance (fixed width, ``Parameter`` placeholders) or a class
            (variable width) for ``Target.add_instruction``.

    """

    name: str
    kind: str
    target_entry: object


_SPECIAL_KINDS = {
    "measure": "measure",
    "reset": "reset",
    "delay": "directive",
    "id": "directive",
    "global_phase": "global_phase",
}

#: Aer's save instruction names (and the method-style aliases) -> program save kind.
SAVE_KINDS = {
    "save_statevector": "statevector",
    "save_statevector_dict": "statevector_dict",
    "save_probabilities": "probabilities",
    "save_probabilities_dict": "probabilities_dict",
    "save_amplitudes": "amplitudes",
    "save_amplitudes_sq": "amplitudes_sq",
    "save_amplitudes_squared": "amplitudes_sq",
    "save_expval": "expval",
    "save_expectation_value": "expval",
    "save_expval_var": "expval_var",
    "save_expectation_value_variance": "expval_var",
    "save_density_matrix": "density_matrix",
    "save_unitary": "unitary",
    "save_superop": "superop",
    "save_stabilizer": "stabilizer",
    "save_clifford": "clifford",
    "save_matrix_product_state": "matrix_product_state",
    "save_state": "statevector",  # the statevector method's state
}

#: Aer instructions that need a simulation method aerdask does not run -> that method.

_SAVE_CLASSES = {
    "save_statevector": library.SaveStatevector,
    "save_statevector_dict": library.SaveStatevectorDict,
    "save_probabilities": library.SaveProbabilities,
    "save_probabilities_dict": library.SaveProbabilitiesDict,
    "save_amplitudes": library.SaveAmplitudes,
    "save_amplitudes_sq": library.SaveAmplitudesSquared,
    "save_expval": library.SaveExpectationValue,
    "save_expval_var": library.SaveExpectationValueVariance,
    "save_density_matrix": library.SaveDensityMatrix,
    "save_unitary": library.SaveUnitary,
    "save_superop": library.SaveSuperOp,
    "save_stabilizer": library.SaveStabilizer,
    "save_clifford": library.SaveClifford,
    "save_matrix_product_state": library.SaveMatrixProductState,
    "save_state": library.SaveState,
}


#: Noise written into a circuit: qiskit's ``kraus`` (a ``Kraus`` or ``SuperOp`` appended), Aer's
#: ``quantum_channel`` (a ``QuantumError`` appended) and ``superop``. Advertised as variadic
#: instructions, so ``transpile`` keeps them.
CHANNEL_NAMES = frozenset({"kraus", "superop", "quantum_channel"})


def _build() -> dict[str, InstructionSpec]:
    table = {}
    for name, gate in get_standard_gate_name_mapping().items():
        table[name] = InstructionSpec(name, _SPECIAL_KINDS.get(name, "gate"), gate)
    variadic = {
        "barrier": ("directive", Barrier),
        "unitary": ("gate", UnitaryGate),
        "diagonal": ("gate", DiagonalGate),
        "mcx": ("gate", MCXGate),
        "mcphase": ("gate", MCPhaseGate),
        "mcu1": ("gate", MCU1Gate),
        "initialize": ("initialize", Initialize),
        "state_preparation": ("state_preparation", StatePreparation),
        "if_else": ("control_flow", IfElseOp),
        "switch_case": ("control_flow", SwitchCaseOp),
        "for_loop": ("control_flow", ForLoopOp),
        "while_loop": ("control_flow", WhileLoopOp),
        "break_loop": ("control_flow", BreakLoopOp),
        "continue_loop": ("control_flow", ContinueLoopOp),
        "store": ("store", Store),
        "multiplexer": ("multiplexer", UCGate),
        "pauli": ("gate", PauliGate),
        "set_statevector": ("set_state", library.SetStatevector),
        "set_unitary": ("set_unitary", library.SetUnitary),
        "set_stabilizer": ("set_stabilizer", library.SetStabilizer),
        "set_superop": ("set_superop", library.SetSuperOp),
        "set_density_matrix": ("set_density_matrix", library.SetDensityMatrix),
        "set_matrix_product_state": ("set_matrix_product_state", library.SetMatrixProductState),
    }
    for name, (kind, cls) in variadic.items():
        table[name] = InstructionSpec(name, kind, cls)
    for name, cls in _SAVE_CLASSES.items():
        table[name] = InstructionSpec(name, "save", cls)
    for name in CHANNEL_NAMES:  # advertised, so that transpile() keeps a circuit's noise channels
        table[name] = InstructionSpec(name, "channel", Instruction)
    return table


#: name -> InstructionSpec for every instruction aerdask advertises.
INSTRUCTIONS: dict[str, InstructionSpec] = _build()


def lookup(name: str) -> InstructionSpec | None:
    """The spec of ``name`` (save aliases and noise channels included), or ``None`` if it is not in the table."""
    if name in SAVE_KINDS and name not in INSTRUCTIONS:
        return InstructionSpec(name, "save", None)
    if name in CHANNEL_NAMES:
        return InstructionSpec(name, "channel", None)
    return INSTRUCTIONS.get(name)


def names_of_kind(*kinds: str) -> frozenset[str]:
    """The advertised instruction names whose kind is one of ``kinds`` (e.g. ``"control_flow"``)."""
    return frozenset(name for name, spec in INSTRUCTIONS.items() if spec.kind in kinds)


def supported_summary() -> str:
    """What runs, for error messages: derived from the table, so it cannot drift from it."""
    standard = set(get_standard_gate_name_mapping())
    others = sorted(n for n, spec in INSTRUCTIONS.items() if n not in standard and spec.kind not in ("save", "channel"))
    return (
        f"aerdask runs Qiskit's standard gates and instructions (measure, reset, delay...), any gate with a matrix "
        f"or a definition, {', '.join(others)}, "
        f"{', '.join(sorted(CHANNEL_NAMES))} and Aer's save instructions"
    )
