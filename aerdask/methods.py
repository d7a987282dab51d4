"""Which simulation method each experiment runs: statevector or density matrix.

``method="statevector"`` simulates a noisy circuit's shots as trajectories;
``"density_matrix"`` evolves the mixed state exactly (``4**n`` entries, see
:mod:`aerdask_kernels.density`) and samples every shot from it. ``"automatic"``
picks per circuit as Aer's automatic method does: the density matrix when the job's
noise model has quantum errors, the circuit has more shots than ``2**num_qubits``
(a density-matrix run costs about ``2**n`` trajectories) and its shots can all be
sampled from the final state (no mid-circuit measurement, reset or condition); else
the statevector.
"""

from __future__ import annotations

from aerdask_kernels.density import DENSITY_MATRIX, STATEVECTOR, STATEVECTOR_SAVES
from aerdask_kernels.format.program import Experiment
from aerdask_kernels.opcodes import COL_OPCODE, OP_BRANCH, OP_CLASSICAL, OP_MEASURE, OP_RESET, OP_SET_STATE

from .errors import UnsupportedInstructionError

__all__ = ["with_method", "METHODS"]

#: The ``method`` option's values.
METHODS = ("automatic", STATEVECTOR, DENSITY_MATRIX)

# Rows after which shots no longer share one final state (Aer's circuits that cannot "sample").
_NOT_SAMPLED = (OP_MEASURE, OP_RESET, OP_BRANCH, OP_CLASSICAL, OP_SET_STATE)


def with_method(exp: Experiment, method: str, noise=None) -> Experiment:
    """``exp`` set to run with ``method`` (``"automatic"`` resolved as the module docs say).

    For the density matrix, ``save_state`` saves the density matrix, by default under
    the label ``"density_matrix"``, as in Aer.

    Raises:
        UnsupportedInstructionError: for ``method="density_matrix"`` and a save that reads
            amplitudes (``save_statevector``, ``save_statevector_dict``, ``save_amplitudes``),
            naming the save and what the method offers instead.
    """
    if method == "automatic":
        method = DENSITY_MATRIX if _density_pays(exp, noise) else STATEVECTOR
    if method == STATEVECTOR:
        return exp
    saves = []
    for spec in exp.saves:
        if spec.get("state"):
            label = "density_matrix" if spec["label"] == "statevector" else spec["label"]  # the default: the method's
            spec = {**spec, "kind": "density_matrix", "label": label}
        elif spec["kind"] in STATEVECTOR_SAVES:
            raise UnsupportedInstructionError(
                f"circuit {exp.name!r}: save_{spec['kind']} (label {spec['label']!r}) reads amplitudes, which "
                "the density_matrix method has not got; use save_density_matrix, save_probabilities, "
                "save_amplitudes_sq or save_expectation_value, or method='statevector'"
            )
        saves.append(spec)
    return exp.replace(method=DENSITY_MATRIX, saves=saves)


def _density_pays(exp: Experiment, noise) -> bool:
    if noise is None or not noise.has_quantum_errors or exp.num_qubits >= 31:
        return False
    if exp.shots <= 1 << exp.num_qubits:
        return False
    if any(spec["kind"] in STATEVECTOR_SAVES and not spec.get("state") for spec in exp.saves):
        return False
    rows = exp.ops[:, COL_OPCODE]
    return not any((rows == code).any() for code in _NOT_SAMPLED)
