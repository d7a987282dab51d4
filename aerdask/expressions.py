"""Qiskit ``ParameterExpression`` -> the postfix programs of :mod:`aerdask_kernels.format.expressions`.

Each distinct expression of a circuit is compiled once; workers evaluate it at
every point of the values array. The structure is read from the expression's
replay, the operation list Qiskit itself walks to serialise an expression to QPY
and to convert it to sympy: operands are pushed (a ``None`` operand is the value
already on the stack), then the operation pops its operands. The replay is not a
public API, so once per process an expression that uses every operation, reversed
operands and a nested sub-expression is compiled and compared with Qiskit's own
``bind`` at two points (:func:`replay_understood`); if they disagree, no expression is
compiled here. An expression that cannot be (that test failed, or it uses an
operation with no real-valued equivalent: gradients, substitutions, complex
constants) raises :class:`NotTemplatable`, and its circuit is bound on the client.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression

from aerdask_kernels.format.expressions import (
    BINARY_OPS,
    EXPR_OPCODES,
    PARTIAL_OPS,
    UNARY_OPS,
    evaluate_expressions,
    first_nonfinite,
)

from .errors import AerdaskInputError

__all__ = ["ExpressionTable", "NotTemplatable", "check_finite"]

# Qiskit's operation names (``OpCode`` members) -> ours; the R forms take their operands swapped.
_BINARY = {"ADD": "add", "SUB": "sub", "MUL": "mul", "DIV": "div", "POW": "pow"}
_REVERSED = {"RSUB": "sub", "RDIV": "div", "RPOW": "pow"}
_UNARY = {
    "SIN": "sin",
    "COS": "cos",
    "TAN": "tan",
    "ASIN": "asin",
    "ACOS": "acos",
    "ATAN": "atan",
    "EXP": "exp",
    "LOG": "log",
    "ABS": "abs",
    "SIGN": "sign",
}
_CHECK_RTOL = 1e-9


class NotTemplatable(Exception):
    """This circuit cannot be compiled once for all its points; bind it point by point."""


def _op_name(op) -> str:
    return getattr(op, "name", None) or str(op).rsplit(".", 1)[-1]


class ExpressionTable:
    """The expressions of one circuit over its parameter columns.

    Args:
        parameters: The circuit's parameters, in the order of the values columns.
    """

    def __init__(self, parameters):
        self.parameters = list(parameters)
        self.columns = {p: i for i, p in enumerate(self.parameters)}
        self.code: list[tuple[int, int]] = []
        self.start: list[int] = [0]
        self.consts: list[float] = []
        self.exprs: list[ParameterExpression] = []
        self._index: dict = {}

    def __len__(self) -> int:
        return len(self.exprs)

    def add(self, expr: ParameterExpression) -> int:
        """The index of ``expr`` (an expression with free parameters), compiling it on first sight.

        Raises:
            NotTemplatable: if the expression cannot be evaluated from real values here.
        """
        index = self._index.get(expr)
        if index is not None:
            return index
        if not replay_understood():
            raise NotTemplatable("this Qiskit's expression replay differs from the one aerdask reads")
        mark = len(self.code), len(self.consts)
        try:
            self._emit(expr)
        except NotTemplatable:
            del self.code[mark[0] :], self.consts[mark[1] :]
            raise
        self.start.append(len(self.code))
        self.exprs.append(expr)
        self._index[expr] = index = len(self.exprs) - 1
        return index

    def _push(self, operand) -> None:
        if isinstance(operand, Parameter):
            column = self.columns.get(operand)
            if column is None:
                raise NotTemplatable(f"parameter {operand.name!r} is not a parameter of the circuit")
            self.code.append((EXPR_OPCODES["param"], column))
        elif isinstance(operand, ParameterExpression):
            self._emit(operand)
        elif isinstance(operand, numbers.Real) and not isinstance(operand, bool):
            self.code.append((EXPR_OPCODES["const"], len(self.consts)))
            self.consts.append(float(operand))
        else:
            raise NotTemplatable(f"constant {operand!r} is not a real number")

    def _emit(self, expr) -> None:
        if isinstance(expr, Parameter):
            self._push(expr)
            return
        if not expr.parameters:  # a bound sub-expression
            self._push(_real(expr))
            return
        for inst in expr._qpy_replay:
            for operand in (inst.lhs, inst.rhs):
                if operand is not None:
                    self._push(operand)
            name = _op_name(inst.op)
            if name in _BINARY:
                self.code.append((BINARY_OPS[_BINARY[name]], 0))
            elif name in _REVERSED:
                self.code.append((EXPR_OPCODES["swap"], 0))
                self.code.append((BINARY_OPS[_REVERSED[name]], 0))
            elif name in _UNARY:
                self.code.append((UNARY_OPS[_UNARY[name]], 0))
            elif name != "CONJ":  # the conjugate of a real value is itself
                raise NotTemplatable(f"operation {name} of expression {expr} has no real-valued equivalent")

    def arrays(self) -> dict:
        """``expr_code``, ``expr_start`` and ``expr_consts`` for the experiment."""
        return {
            "expr_code": np.array(self.code, dtype=np.int64).reshape(-1, 2),
            "expr_start": np.array(self.start, dtype=np.int64),
            "expr_consts": np.array(self.consts, dtype=np.float64),
        }


@functools.cache
def replay_understood() -> bool:
    """Whether expressions compiled from Qiskit's replay evaluate as Qiskit's ``bind`` does.

    Checked once per process on an expression with every operation (reversed forms and a
    nested sub-expression included), at two points.
    """
    a, b = Parameter("a"), Parameter("b")
    inner = (a + 1) * (b - 2)
    expr = (
        (2 - a) / (1 + b**2)
        + 2**a
        - 3 / (b + 7)
        + inner.sin() * a.cos()
        + (a / 9).tan()
        + (b / 9).arcsin()
        - (a / 9).arccos()
        + (a * b).arctan()
        + (b - 1).exp()
        - (a + 2).log()
        + abs(b - 3) * (a - 0.5).sign()
        + a.conjugate() * 0.5
    )
    table = ExpressionTable([a, b])
    try:
        table._emit(expr)
    except NotTemplatable:
        return False
    code = np.array(table.code, dtype=np.int64).reshape(-1, 2)
    consts = np.array(table.consts, dtype=np.float64)
    start = np.array([0, code.shape[0]], dtype=np.int64)
    for values in ((0.3, 0.8), (1.1, 2.4)):
        ours = np.empty(1, dtype=np.float64)
        evaluate_expressions(code, start, consts, np.array(values), ours)
        theirs = _real(expr.bind(dict(zip((a, b), values, strict=True))))
        if not math.isclose(ours[0], theirs, rel_tol=_CHECK_RTOL, abs_tol=1e-12):
            return False
    return True


def _real(expr) -> float:
    """The real value of a bound expression (or number)."""
    value = expr.numeric() if isinstance(expr, ParameterExpression) else expr
    if isinstance(value, complex):
        if value.imag:
            raise NotTemplatable(f"bound value {value} is complex")
        value = value.real
    return float(value)


def check_finite(exp, expressions: list[str] | None = None) -> None:
    """Refuse points at which a gate angle has no finite value, before anything runs.

    Only expressions that can leave the reals are evaluated (a division, a power, a
    logarithm...): sums and products of finite values are finite. Workers check again.

    Args:
        exp: A compiled experiment with its points.
        expressions: The expressions' text, for the message.

    Raises:
        AerdaskInputError: naming the expression, the point and its parameter values.
    """
    if not exp.parameterized or not np.isin(exp.expr_code[:, 0], PARTIAL_OPS).any():
        return
    point, e = first_nonfinite(exp.expr_code, exp.expr_start, exp.expr_consts, exp.values)
    if point < 0:
        return
    text = expressions[e] if expressions else f"expression {e}"
    values = ", ".join(f"{n}={v!r}" for n, v in zip(exp.parameters, exp.values[point].tolist(), strict=True))
    raise AerdaskInputError(
        f"circuit {exp.name!r}: gate angle {text} has no finite real value at point {int(exp.indices[point])} "
        f"({values})"
    )
