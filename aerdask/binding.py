"""Aer's ``parameter_binds``: one experiment per circuit and value set."""

from __future__ import annotations

from qiskit.circuit import Parameter, QuantumCircuit

from .errors import AerdaskInputError

__all__ = ["expand_experiments"]


def _names(params) -> str:
    return ", ".join(sorted(p.name for p in params))


def _bind_sets(circuit: QuantumCircuit, binds: dict, i: int) -> list[dict]:
    if not isinstance(binds, dict):
        raise AerdaskInputError(f"parameter_binds[{i}] must be a dict of parameter -> list of values")
    by_name = {p.name: p for p in circuit.parameters}
    resolved = {}
    for key, values in binds.items():
        param = by_name.get(key) if isinstance(key, str) else key
        if not isinstance(param, Parameter) or param not in circuit.parameters:
            raise AerdaskInputError(
                f"parameter_binds[{i}] names {getattr(key, 'name', key)!r}, which is not a parameter of circuit "
                f"{circuit.name!r}; its parameters are: {_names(circuit.parameters) or 'none'}"
            )
        resolved[param] = list(values) if hasattr(values, "__iter__") else [values]
    lengths = {p.name: len(v) for p, v in resolved.items()}
    if len(set(lengths.values())) > 1:
        raise AerdaskInputError(
            f"parameter_binds[{i}] value lists differ in length {lengths}; "
            "every parameter needs one value per experiment"
        )
    unbound = set(circuit.parameters) - set(resolved)
    if unbound:
        raise AerdaskInputError(f"circuit {circuit.name!r} has unbound parameters: {_names(unbound)}")
    count = next(iter(lengths.values()), 0)
    if count == 0:
        raise AerdaskInputError(f"parameter_binds[{i}] has empty value lists; give at least one value set")
    return [{p: v[j] for p, v in resolved.items()} for j in range(count)]


def expand_experiments(circuits: list[QuantumCircuit], parameter_binds) -> list[QuantumCircuit]:
    """Bound circuits in Aer's order: for each circuit, one per value set.

    Raises:
        AerdaskInputError: for binds of the wrong length, unequal value lists,
            unknown parameters, or a circuit left with unbound parameters (listed).

    """
    if parameter_binds is None:
        for circuit in circuits:
            if circuit.parameters:
                raise AerdaskInputError(
                    f"circuit {circuit.name!r} has unbound parameters: {_names(circuit.parameters)}; "
                    "bind them with assign_parameters or pass parameter_binds"
                )
        return circuits
    if not isinstance(parameter_binds, list | tuple) or len(parameter_binds) != len(circuits):
        got = len(parameter_binds) if isinstance(parameter_binds, list | tuple) else type(parameter_binds).__name__
        raise AerdaskInputError(
            f"parameter_binds must be a list with one dict per circuit ({len(circuits)} circuits), got {got}"
        )
    out = []
    for i, (circuit, binds) in enumerate(zip(circuits, parameter_binds, strict=True)):
        if not circuit.parameters and not binds:
            out.append(circuit)
            continue
        out.extend(circuit.assign_parameters(values, inplace=False) for values in _bind_sets(circuit, binds, i))
    return out
