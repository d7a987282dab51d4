"""Aer's save instructions, for users without qiskit-aer.

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
    SaveExpectationValue,
    SaveProbabilities,
    SaveProbabilitiesDict,
    SaveStatevector,
    SaveStatevectorDict,
    save_amplitudes,
    save_amplitudes_squared,
    save_expectation_value,
    save_probabilities,
    save_probabilities_dict,
    save_statevector,
    save_statevector_dict,
)

__all__ = [
    "SaveAmplitudes",
    "SaveAmplitudesSquared",
    "SaveData",
    "SaveExpectationValue",
    "SaveProbabilities",
    "SaveProbabilitiesDict",
    "SaveStatevector",
    "SaveStatevectorDict",
    "save_amplitudes",
    "save_amplitudes_squared",
    "save_expectation_value",
    "save_probabilities",
    "save_probabilities_dict",
    "save_statevector",
    "save_statevector_dict",
]
