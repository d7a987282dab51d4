"""Aer's save instructions and set_statevector, for users without qiskit-aer.

The classes carry Aer's instruction names and fields (``_label``, ``_subtype``,
``params``), so the compiler reads an instruction made here and one made by
qiskit-aer the same way. Importing this module also adds Aer's circuit methods
(``QuantumCircuit.save_statevector`` and friends) where qiskit-aer has not
already added them, so code written for Aer runs unchanged.
"""

from .save import (
    SaveAmplitudes,
    SaveAmplitudesSquared,
    SaveData,
    SaveDensityMatrix,
    SaveExpectationValue,
    SaveExpectationValueVariance,
    SaveProbabilities,
    SaveProbabilitiesDict,
    SaveState,
    SaveStatevector,
    SaveStatevectorDict,
    SetStatevector,
    save_amplitudes,
    save_amplitudes_squared,
    save_density_matrix,
    save_expectation_value,
    save_expectation_value_variance,
    save_probabilities,
    save_probabilities_dict,
    save_state,
    save_statevector,
    save_statevector_dict,
    set_statevector,
)

__all__ = [
    "SaveAmplitudes",
    "SaveAmplitudesSquared",
    "SaveData",
    "SaveDensityMatrix",
    "SaveExpectationValue",
    "SaveExpectationValueVariance",
    "SaveProbabilities",
    "SaveProbabilitiesDict",
    "SaveStatevector",
    "SaveState",
    "SaveStatevectorDict",
    "SetStatevector",
    "save_amplitudes",
    "save_amplitudes_squared",
    "save_density_matrix",
    "save_expectation_value",
    "save_expectation_value_variance",
    "save_probabilities",
    "save_probabilities_dict",
    "save_state",
    "save_statevector",
    "save_statevector_dict",
    "set_statevector",
]
