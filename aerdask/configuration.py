"""``AerSimulator.configuration()``: Aer's backend configuration, read off the simulator's ``Target``.

Code written for ``qiskit_aer`` reads ``backend.configuration().basis_gates`` (to transpile, or
to check what a noise model leaves), ``.num_qubits`` and ``.custom_instructions``. aerdask's
``Target`` is the one source: the configuration lists what it advertises, in Aer's arrangement.
"""

from __future__ import annotations

import dataclasses

from qiskit.transpiler import Target

from aerdask_kernels.format.validation import MAX_SHOTS

from .instructions import INSTRUCTIONS

__all__ = ["BackendConfiguration", "configuration_of"]

#: Target entries Aer's configuration does not list: its measurement, and what is no instruction.
_UNLISTED = ("measure", "barrier", "global_phase")


@dataclasses.dataclass
class BackendConfiguration:
    """What ``qiskit_aer.AerSimulator.configuration()`` returns, for code that reads it.

    Attributes:
        backend_name: The simulator's name.
        backend_version: aerdask's version.
        n_qubits: The widest circuit the method takes here (the ``Target``'s qubits).
        basis_gates: The gates the ``Target`` advertises, sorted, then ``custom_instructions``
            (Aer's order: a list ``transpile(basis_gates=...)`` accepts).
        custom_instructions: The other instructions it runs: saves, ``set_*``, channels,
            ``reset``, ``initialize``, ``delay``, control flow (sorted).
        coupling_map: ``[control, target]`` pairs of a device's ``Target``
            (``AerSimulator.from_backend``), else ``None``: all to all.
        description: The ``Target``'s description (it names the method).
        max_shots: The most shots one experiment takes.
    """

    backend_name: str
    backend_version: str
    n_qubits: int
    basis_gates: list[str]
    custom_instructions: list[str]
    coupling_map: list[list[int]] | None
    description: str
    max_shots: int = MAX_SHOTS
    simulator: bool = True
    local: bool = True
    conditional: bool = True
    memory: bool = True
    open_pulse: bool = False
    gates: list = dataclasses.field(default_factory=list)

    @property
    def num_qubits(self) -> int:
        """:attr:`n_qubits` (Aer's configuration has both names)."""
        return self.n_qubits

    def to_dict(self) -> dict:
        """The fields as a plain dict (Aer's ``to_dict``)."""
        return dataclasses.asdict(self)


def configuration_of(name: str, version: str, target: Target, device: bool) -> BackendConfiguration:
    """The configuration of a simulator called ``name`` whose ``Target`` is ``target``.

    Args:
        name: The backend's name.
        version: Its version string.
        target: What it advertises.
        device: Whether ``target`` is a device's (``from_backend``): its couplings are listed.
    """
    gates, custom = [], []
    for op_name in target.operation_names:
        if op_name in _UNLISTED:
            continue
        spec = INSTRUCTIONS.get(op_name)
        # A name the table lacks is a device's own gate (from_backend keeps the device's Target).
        if spec is None or spec.kind == "gate" or op_name == "id":
            gates.append(op_name)
        else:
            custom.append(op_name)
    coupling = target.build_coupling_map() if device else None
    return BackendConfiguration(
        backend_name=name,
        backend_version=version,
        n_qubits=target.num_qubits,
        basis_gates=sorted(gates) + sorted(custom),
        custom_instructions=sorted(custom),
        coupling_map=[list(edge) for edge in coupling.get_edges()] if coupling is not None else None,
        description=target.description or "",
    )
