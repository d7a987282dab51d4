"""Parameter expressions as tiny postfix programs that compiled code evaluates.

A parameterized experiment keeps, for each gate parameter that depends on the
circuit's parameters, the index of an expression instead of a number. The client
compiles each distinct ``ParameterExpression`` once into a postfix program over a
stack of float64 values; a worker evaluates every expression at each point of the
values array (points x parameters) and binds the results into the gate rows.

Expression ``e`` is ``code[start[e]:start[e + 1]]``, rows of ``(opcode, arg)``:

===========  =================================================================
opcode       effect
===========  =================================================================
CONST        push ``consts[arg]``
PARAM        push ``values[arg]`` (column ``arg`` of the point)
SWAP         swap the two values on top
ADD .. POW   pop ``b`` then ``a``, push ``a op b``
SIN .. SIGN  replace the top ``x`` by ``f(x)``
===========  =================================================================

A well-formed expression never pops an empty stack and leaves exactly one value.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import njit

__all__ = [
    "EXPR_OPCODES",
    "BINARY_OPS",
    "UNARY_OPS",
    "PARTIAL_OPS",
    "check_expressions",
    "evaluate_expressions",
    "first_nonfinite",
    "bind_params",
]

EXPR_CONST, EXPR_PARAM, EXPR_SWAP = 0, 1, 2
EXPR_ADD, EXPR_SUB, EXPR_MUL, EXPR_DIV, EXPR_POW = 3, 4, 5, 6, 7
EXPR_SIN, EXPR_COS, EXPR_TAN, EXPR_ASIN, EXPR_ACOS, EXPR_ATAN, EXPR_EXP, EXPR_LOG, EXPR_ABS, EXPR_SIGN = range(8, 18)

#: Binary operators by name (``a op b``, ``b`` on top of the stack).
BINARY_OPS = {"add": EXPR_ADD, "sub": EXPR_SUB, "mul": EXPR_MUL, "div": EXPR_DIV, "pow": EXPR_POW}
#: Unary functions by name.
UNARY_OPS = {
    "sin": EXPR_SIN,
    "cos": EXPR_COS,
    "tan": EXPR_TAN,
    "asin": EXPR_ASIN,
    "acos": EXPR_ACOS,
    "atan": EXPR_ATAN,
    "exp": EXPR_EXP,
    "log": EXPR_LOG,
    "abs": EXPR_ABS,
    "sign": EXPR_SIGN,
}
#: Every opcode by name.
EXPR_OPCODES = {"const": EXPR_CONST, "param": EXPR_PARAM, "swap": EXPR_SWAP, **BINARY_OPS, **UNARY_OPS}

# Reasons check_expressions reports; the Python side turns them into messages.
_OK, _BAD_OPCODE, _BAD_CONST, _BAD_PARAM, _UNDERFLOW, _NOT_ONE, _BAD_START = range(7)
CHECK_MESSAGES = {
    _BAD_OPCODE: "unknown opcode",
    _BAD_CONST: "constant index out of range",
    _BAD_PARAM: "parameter column out of range",
    _UNDERFLOW: "pops an empty stack",
    _NOT_ONE: "does not leave exactly one value",
    _BAD_START: "start offsets are not increasing within the code",
}


@njit
def check_expressions(code, start, n_consts, n_params):
    """Find the first malformed expression.

    Args:
        code: int64, shape ``(m, 2)``.
        start: int64, shape ``(k + 1,)``; expression ``e`` is ``code[start[e]:start[e + 1]]``.
        n_consts: Length of the constants array.
        n_params: Number of parameter columns.

    Returns:
        tuple: ``(expression, reason)``; ``(-1, 0)`` when every expression is well formed.
    """
    if start.size == 0:  # no expressions
        return (-1, _OK) if code.shape[0] == 0 else (0, _BAD_START)
    k = start.size - 1
    if start[0] != 0 or start[k] != code.shape[0]:
        return 0, _BAD_START
    for e in range(k):
        if start[e + 1] < start[e]:
            return e, _BAD_START
        depth = 0
        for r in range(start[e], start[e + 1]):
            op, arg = code[r, 0], code[r, 1]
            if op == EXPR_CONST or op == EXPR_PARAM:
                if op == EXPR_CONST and (arg < 0 or arg >= n_consts):
                    return e, _BAD_CONST
                if op == EXPR_PARAM and (arg < 0 or arg >= n_params):
                    return e, _BAD_PARAM
                depth += 1
            elif op == EXPR_SWAP or (op >= EXPR_ADD and op <= EXPR_POW):
                if depth < 2:
                    return e, _UNDERFLOW
                if op != EXPR_SWAP:
                    depth -= 1
            elif op >= EXPR_SIN and op <= EXPR_SIGN:
                if depth < 1:
                    return e, _UNDERFLOW
            else:
                return e, _BAD_OPCODE
        if depth != 1:
            return e, _NOT_ONE
    return -1, _OK


@njit
def _unary(op, x):
    if op == EXPR_SIN:
        return math.sin(x)
    if op == EXPR_COS:
        return math.cos(x)
    if op == EXPR_TAN:
        return math.tan(x)
    if op == EXPR_ASIN:
        return math.asin(x) if -1.0 <= x <= 1.0 else math.nan
    if op == EXPR_ACOS:
        return math.acos(x) if -1.0 <= x <= 1.0 else math.nan
    if op == EXPR_ATAN:
        return math.atan(x)
    if op == EXPR_EXP:
        return math.exp(x) if x < 709.0 else math.inf
    if op == EXPR_LOG:
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    if op == EXPR_ABS:
        return abs(x)
    return 0.0 if x == 0 else (1.0 if x > 0 else (-1.0 if x < 0 else math.nan))  # sign


@njit
def _binary(op, a, b):
    if op == EXPR_ADD:
        return a + b
    if op == EXPR_SUB:
        return a - b
    if op == EXPR_MUL:
        return a * b
    if op == EXPR_DIV:
        return a / b if b != 0 else math.nan
    if a < 0 and b != math.floor(b):
        return math.nan  # a complex power: not a real gate angle
    if a == 0 and b < 0:
        return math.inf
    return a**b


@njit
def evaluate_expressions(code, start, consts, values, out):
    """Evaluate every expression at one point, into ``out``.

    Args:
        code: int64, shape ``(m, 2)``; checked by :func:`check_expressions`.
        start: int64, shape ``(k + 1,)``.
        consts: float64.
        values: float64, shape ``(n_params,)``; the point.
        out: float64, shape ``(k,)``; written. A value is NaN or infinite where the
            real expression has no finite value (``log(-1)``, ``1/0``).
    """
    longest = 1
    for e in range(start.size - 1):
        longest = max(longest, start[e + 1] - start[e])
    stack = np.empty(longest, dtype=np.float64)
    for e in range(start.size - 1):
        top = -1
        for r in range(start[e], start[e + 1]):
            op, arg = code[r, 0], code[r, 1]
            if op == EXPR_CONST:
                top += 1
                stack[top] = consts[arg]
            elif op == EXPR_PARAM:
                top += 1
                stack[top] = values[arg]
            elif op == EXPR_SWAP:
                stack[top], stack[top - 1] = stack[top - 1], stack[top]
            elif op <= EXPR_POW:
                stack[top - 1] = _binary(op, stack[top - 1], stack[top])
                top -= 1
            else:
                stack[top] = _unary(op, stack[top])
        out[e] = stack[0]


@njit
def bind_params(params, param_expr, expr_values):
    """Gate parameters of one point: constants, with expression slots replaced by their values.

    Args:
        params: float64, shape ``(r,)``; the constant parameters (slots hold anything).
        param_expr: int64, shape ``(r,)``; ``-1`` for a constant, else the expression index.
        expr_values: float64; :func:`evaluate_expressions` output.

    Returns:
        float64, shape ``(r,)``: a new array.
    """
    out = params.copy()
    for i in range(param_expr.size):
        if param_expr[i] >= 0:
            out[i] = expr_values[param_expr[i]]
    return out


#: Operations that can turn finite values into NaN or infinities (``1/0``, ``log(-1)``, ``asin(2)``).
PARTIAL_OPS = (EXPR_DIV, EXPR_POW, EXPR_TAN, EXPR_ASIN, EXPR_ACOS, EXPR_EXP, EXPR_LOG)


@njit
def first_nonfinite(code, start, consts, values):
    """The first ``(point, expression)`` whose value is NaN or infinite, or ``(-1, -1)``.

    Args:
        code: int64, shape ``(m, 2)``; the expressions (see :func:`evaluate_expressions`).
        start: int64, shape ``(k + 1,)``.
        consts: float64.
        values: float64, shape ``(points, n_params)``.
    """
    out = np.empty(max(start.size - 1, 0), dtype=np.float64)
    for p in range(values.shape[0]):
        evaluate_expressions(code, start, consts, values[p], out)
        for e in range(out.size):
            if not np.isfinite(out[e]):
                return p, e
    return -1, -1
