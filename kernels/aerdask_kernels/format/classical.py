"""Classical expressions on clbits: ``Store`` and conditions beyond "register == value".

Qiskit 2 builds conditions and stores from ``qiskit.circuit.classical.expr`` trees
(bit operations, comparisons, shifts, arithmetic on ``Uint`` values, variables).
The compiler writes each tree as a small postfix program, plain data:

``{"code": [[op, arg], ...], "regs": [[clbit, ...], ...]}``

``regs`` lists the clbit groups the code reads (little-endian: the first clbit is
bit 0 of the value). A CLASSICAL row (:mod:`.opcodes`) evaluates one program and
writes the value to its target clbits. Variables that are not circuit clbits live
in extra clbits past ``Experiment.num_clbits``; they never reach the counts.

Programs are evaluated with Python integers by the shot walker: they run once per
branch of shots, so their cost does not grow with the state.

Ops (``arg`` is ignored where not named):

=========  ===================================================================
``const``  push ``arg`` (0 <= arg < 2**64)
``reg``    push the value of ``regs[arg]``
``not``    bitwise NOT of the top, masked to ``arg`` bits
``lnot``   logical NOT (0 or 1)
``bool``   1 if the top is non-zero, else 0 (a cast to ``Bool``)
``mask``   keep the low ``arg`` bits of the top (wrap-around of ``Uint(arg)``)
``neg``    two's complement negation, masked to ``arg`` bits
binary     pop b, then a; push ``a OP b``: ``and or xor land lor eq ne lt le gt ge
           shl shr add sub mul div mod``; ``shl``, ``add``, ``sub`` and ``mul`` wrap at ``arg`` bits
=========  ===================================================================
"""

from __future__ import annotations

import operator

__all__ = ["UNARY", "BINARY", "MAX_WIDTH", "evaluate", "check_program"]

#: Widest value a program handles (``Uint`` widths, shift amounts).
MAX_WIDTH = 64
UNARY = ("not", "lnot", "bool", "mask", "neg")


def _div(a: int, b: int) -> int:
    return a // b if b else 0  # OpenQASM 3 leaves it undefined; a program must not fail mid-shot


def _mod(a: int, b: int) -> int:
    return a % b if b else 0


BINARY = {
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
    "land": lambda a, b: int(bool(a) and bool(b)),
    "lor": lambda a, b: int(bool(a) or bool(b)),
    "eq": lambda a, b: int(a == b),
    "ne": lambda a, b: int(a != b),
    "lt": lambda a, b: int(a < b),
    "le": lambda a, b: int(a <= b),
    "gt": lambda a, b: int(a > b),
    "ge": lambda a, b: int(a >= b),
    "shl": operator.lshift,
    "shr": operator.rshift,
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": _div,
    "mod": _mod,
}
_MASKED = ("shl", "add", "sub", "mul")  # results that wrap at their Uint width


def _register(creg, bits) -> int:
    value = 0
    for i, bit in enumerate(bits):
        value |= int(creg[bit]) << i
    return value


def evaluate(program: dict, creg) -> int:
    """The value of ``program`` (a checked program, see the module docs) on clbits ``creg``."""
    regs = program["regs"]
    stack: list[int] = []
    for op, arg in program["code"]:
        if op == "const":
            stack.append(arg)
        elif op == "reg":
            stack.append(_register(creg, regs[arg]))
        elif op == "not":
            stack[-1] = ~stack[-1] & ((1 << arg) - 1)
        elif op == "lnot":
            stack[-1] = int(not stack[-1])
        elif op == "bool":
            stack[-1] = int(stack[-1] != 0)
        elif op == "mask":
            stack[-1] &= (1 << arg) - 1
        elif op == "neg":
            stack[-1] = -stack[-1] & ((1 << arg) - 1)
        else:
            b = stack.pop()
            if op == "shl":
                b = min(b, MAX_WIDTH)  # beyond the width every bit is gone anyway
            value = BINARY[op](stack.pop(), b)
            stack.append(value & ((1 << arg) - 1) if op in _MASKED else value)
    return stack[-1]


def check_program(program, n_bits: int) -> str | None:
    """Why ``program`` is malformed for ``n_bits`` clbits, or ``None`` if it is well formed."""
    if not isinstance(program, dict) or not isinstance(program.get("code"), list):
        return "must be a dict with a 'code' list"
    regs = program.get("regs")
    if not isinstance(regs, list):
        return "must have a 'regs' list"
    for k, bits in enumerate(regs):
        if not isinstance(bits, list) or not 1 <= len(bits) <= MAX_WIDTH:
            return f"regs[{k}] must be a list of 1..{MAX_WIDTH} clbits"
        if not all(isinstance(b, int) and 0 <= b < n_bits for b in bits):
            return f"regs[{k}] holds a clbit outside 0..{n_bits - 1}"
    depth = 0
    for i, item in enumerate(program["code"]):
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[1], int)):
            return f"code[{i}] must be [op, int]"
        op, arg = item
        if op == "const":
            if not 0 <= arg < 1 << MAX_WIDTH:
                return f"code[{i}]: constant {arg} outside [0, 2**{MAX_WIDTH})"
            depth += 1
        elif op == "reg":
            if not 0 <= arg < len(regs):
                return f"code[{i}]: register {arg} outside 0..{len(regs) - 1}"
            depth += 1
        elif op in UNARY:
            if depth < 1:
                return f"code[{i}]: {op!r} on an empty stack"
            if op in ("not", "mask", "neg") and not 1 <= arg <= MAX_WIDTH:
                return f"code[{i}]: width {arg} outside 1..{MAX_WIDTH}"
        elif op in BINARY:
            if depth < 2:
                return f"code[{i}]: {op!r} needs two operands"
            if op in _MASKED and not 1 <= arg <= MAX_WIDTH:
                return f"code[{i}]: width {arg} outside 1..{MAX_WIDTH}"
            depth -= 1
        else:
            return f"code[{i}]: unknown op {op!r}, allowed const, reg, {', '.join(UNARY)}, {', '.join(BINARY)}"
    if depth != 1:
        return f"leaves {depth} values on the stack, not 1"
    return None
