"""Parameter values: Aer's ``parameter_binds`` and plain arrays, checked into float64 arrays.

A circuit with parameters runs at the rows of a values array (points x
parameters, columns in ``circuit.parameters`` order). Every value is checked here,
at ``run()``, so bad input fails there with a message naming the parameter, never
deep inside a worker.
"""

from __future__ import annotations

import numbers

import numpy as np
from qiskit.circuit import Parameter, QuantumCircuit

from .errors import AerdaskInputError

__all__ = ["bind_values", "values_array", "expand_parameterizations"]


def _names(params) -> str:
    return ", ".join(sorted(p.name for p in params))


def _bad_value(value) -> str | None:
    """Why ``value`` is not a usable parameter value, or ``None`` if it is."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return f"{value!r} ({type(value).__name__}) is not a real number"
    try:
        number = float(value)
    except OverflowError:
        return f"{value!r} is too large for a float"
    if not np.isfinite(number):
        return f"{number} is not finite"
    return None


def values_array(values, names: list[str], where: str) -> np.ndarray:
    """``values`` as float64 of shape ``(points, len(names))``, every entry checked.

    Args:
        values: Anything ``numpy.asarray`` turns into that shape (one row per point).
        names: The parameter of each column, for messages.
        where: What the values belong to, for messages (``"circuit 'ansatz'"``).

    Raises:
        AerdaskInputError: for a wrong shape, or naming the parameter and the point of
            a value that is not a finite real number (strings, complex numbers, ``None``,
            NaN, infinities and booleans are refused).
    """
    expected = f"{where}: parameter values must have shape (points, {len(names)}) for parameters {names}"
    try:
        raw = np.asarray(values)
    except ValueError:  # ragged rows
        raise AerdaskInputError(f"{expected}; the rows differ in length") from None
    if raw.ndim != 2 or raw.shape[1] != len(names) or raw.shape[0] == 0:
        raise AerdaskInputError(f"{expected}, got shape {raw.shape}")
    if raw.dtype.kind in "fiu":
        out = raw.astype(np.float64)
        if np.isfinite(out).all():
            return out
    # Not all numbers: read the input again as objects (numpy would have turned 0.1 into '0.1' beside a string).
    objects = raw if raw.dtype == object or isinstance(values, np.ndarray) else np.array(values, dtype=object)
    for (point, column), value in np.ndenumerate(objects):
        reason = _bad_value(value)
        if reason is not None:
            raise AerdaskInputError(f"{where}: value of parameter {names[column]!r} at point {point}: {reason}")
    return raw.astype(np.float64)


def _column(values, param: Parameter, i: int) -> list:
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        return [values]  # one value (a string is one bad value, not a list of characters)
    values = list(values)
    if not values:
        raise AerdaskInputError(f"parameter_binds[{i}] has an empty value list for {param.name!r}")
    return values


def _bind_set(circuit: QuantumCircuit, binds, i: int) -> np.ndarray:
    if not isinstance(binds, dict):
        raise AerdaskInputError(f"parameter_binds[{i}] must be a dict of parameter -> list of values")
    by_name = {p.name: p for p in circuit.parameters}
    columns: dict[Parameter, list] = {}
    for key, values in binds.items():
        param = by_name.get(key) if isinstance(key, str) else key
        if not isinstance(param, Parameter) or param not in circuit.parameters:
            raise AerdaskInputError(
                f"parameter_binds[{i}] names {getattr(key, 'name', key)!r}, which is not a parameter of circuit "
                f"{circuit.name!r}; its parameters are: {_names(circuit.parameters) or 'none'}"
            )
        columns[param] = _column(values, param, i)
    lengths = {p.name: len(v) for p, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise AerdaskInputError(
            f"parameter_binds[{i}] value lists differ in length {lengths}; "
            "every parameter needs one value per experiment"
        )
    unbound = set(circuit.parameters) - set(columns)
    if unbound:
        raise AerdaskInputError(f"circuit {circuit.name!r} has unbound parameters: {_names(unbound)}")
    ordered = list(circuit.parameters)
    arrays = [np.asarray(columns[p]) for p in ordered]
    if all(a.ndim == 1 and a.dtype.kind in "fiu" for a in arrays):
        table = np.column_stack(arrays)
    else:  # something is not a number: an object table keeps each value as given, for the message
        table = np.empty((next(iter(lengths.values())), len(ordered)), dtype=object)
        for j, param in enumerate(ordered):
            table[:, j] = columns[param]
    return values_array(table, [p.name for p in ordered], f"parameter_binds[{i}] (circuit {circuit.name!r})")


def bind_values(circuits: list[QuantumCircuit], parameter_binds) -> list[np.ndarray | None]:
    """Each circuit's values array, in Aer's order (each value set is one experiment).

    Returns:
        One entry per circuit: ``None`` for a circuit without parameters (one
        experiment), else float64 of shape ``(points, circuit.num_parameters)``.

    Raises:
        AerdaskInputError: for binds of the wrong length, unequal value lists,
            unknown parameters, values that are not finite real numbers (naming the
            parameter), or a circuit left with unbound parameters (listed).

    """
    if parameter_binds is None:
        for circuit in circuits:
            if circuit.num_parameters:
                raise AerdaskInputError(
                    f"circuit {circuit.name!r} has unbound parameters: {_names(circuit.parameters)}; "
                    "bind them with assign_parameters or pass parameter_binds"
                )
        return [None] * len(circuits)
    if not isinstance(parameter_binds, list | tuple) or len(parameter_binds) != len(circuits):
        got = len(parameter_binds) if isinstance(parameter_binds, list | tuple) else type(parameter_binds).__name__
        raise AerdaskInputError(
            f"parameter_binds must be a list with one dict per circuit ({len(circuits)} circuits), got {got}"
        )
    out: list[np.ndarray | None] = []
    for i, (circuit, binds) in enumerate(zip(circuits, parameter_binds, strict=True)):
        if not circuit.num_parameters and not binds:
            out.append(None)
        else:
            out.append(_bind_set(circuit, binds, i))
    return out


def expand_parameterizations(circuits: list[QuantumCircuit], parameterizations) -> list[QuantumCircuit]:
    """Aer's legacy ``parameterizations`` run option, as bound circuit copies.

    Per circuit, a list of ``[[instruction, parameter], [value, ...]]``: each entry
    sets one instruction parameter, and the circuit runs once per value position
    (every entry of a circuit has the same number of values). An empty list runs
    the circuit once, as it is. Copies are made on the client: this is a
    compatibility path; ``parameter_binds`` compiles once instead.

    Raises:
        AerdaskInputError: for a list of the wrong length, an instruction or parameter
            index out of range, unequal value counts or a value that is not real.
    """
    if not isinstance(parameterizations, list | tuple) or len(parameterizations) != len(circuits):
        raise AerdaskInputError(
            f"parameterizations must be a list with one entry per circuit ({len(circuits)} circuits)"
        )
    out = []
    for i, (circuit, entries) in enumerate(zip(circuits, parameterizations, strict=True)):
        if not entries:
            out.append(circuit)
            continue
        counts = {len(values) for _, values in entries}
        if len(counts) != 1:
            raise AerdaskInputError(f"parameterizations[{i}]: every entry needs the same number of values")
        for point in range(counts.pop()):
            bound = circuit.copy()
            for (index, param), values in entries:
                if not 0 <= index < len(bound.data) or not 0 <= param < len(bound.data[index].operation.params):
                    raise AerdaskInputError(
                        f"parameterizations[{i}]: circuit {circuit.name!r} has no parameter {param} "
                        f"of instruction {index}"
                    )
                reason = _bad_value(values[point])
                if reason:
                    raise AerdaskInputError(f"parameterizations[{i}]: value {point}: {reason}")
                inst = bound.data[index]
                operation = inst.operation.copy()
                operation.params[param] = float(values[point])
                bound.data[index] = inst.replace(operation=operation)
            out.append(bound)
    return out
