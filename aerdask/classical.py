"""Compile Qiskit's classical expressions (``qiskit.circuit.classical.expr``) into postfix programs.

The programs are plain data that workers evaluate on the clbits
(:mod:`aerdask_kernels.format.classical`). Circuit clbits and registers are read where
they live; standalone variables get extra clbits past the circuit's own
(``Experiment.num_vars``), allocated here the first time a variable is seen.
"""

from __future__ import annotations

from collections.abc import Callable

from qiskit.circuit import ClassicalRegister, Clbit
from qiskit.circuit.classical import expr, types

__all__ = ["ClassicalCompiler"]

_BINARY = {
    expr.Binary.Op.BIT_AND: "and",
    expr.Binary.Op.BIT_OR: "or",
    expr.Binary.Op.BIT_XOR: "xor",
    expr.Binary.Op.LOGIC_AND: "land",
    expr.Binary.Op.LOGIC_OR: "lor",
    expr.Binary.Op.EQUAL: "eq",
    expr.Binary.Op.NOT_EQUAL: "ne",
    expr.Binary.Op.LESS: "lt",
    expr.Binary.Op.LESS_EQUAL: "le",
    expr.Binary.Op.GREATER: "gt",
    expr.Binary.Op.GREATER_EQUAL: "ge",
    expr.Binary.Op.SHIFT_LEFT: "shl",
    expr.Binary.Op.SHIFT_RIGHT: "shr",
}
# Arithmetic arrived in later Qiskit releases: map what this one has.
for _name, _op in (("ADD", "add"), ("SUB", "sub"), ("MUL", "mul"), ("DIV", "div")):
    if hasattr(expr.Binary.Op, _name):
        _BINARY[getattr(expr.Binary.Op, _name)] = _op
_WIDTH_ARG = ("shl", "add", "sub", "mul")  # ops that wrap at the result's width


class ClassicalCompiler:
    """Turns expression trees into programs, and targets into clbit lists.

    Methods take ``bits``: a function from a ``Clbit`` or ``ClassicalRegister`` (as
    seen in the current block) to the circuit's clbit numbers.

    Args:
        first_free: The first clbit number past the circuit's clbits.
        fail: Builds the error for an expression that cannot run, from a reason.
    """

    def __init__(self, first_free: int, fail: Callable[[str], Exception]):
        self.first_free = first_free
        self.fail = fail
        self.var_bits: dict = {}  # standalone Var -> its clbits
        self.num_vars = 0

    def extra_bits(self, count: int) -> list[int]:
        """``count`` fresh clbits past the circuit's (for variables and scratch conditions)."""
        start = self.first_free + self.num_vars
        self.num_vars += count
        return list(range(start, start + count))

    def target_bits(self, node, bits: Callable) -> list[int]:
        """Clbits an lvalue (a ``Var`` or a constant ``Index`` into one) names, little-endian.

        Raises:
            UnsupportedInstructionError: for other lvalues or variable types.
        """
        if isinstance(node, expr.Var):
            if isinstance(node.var, Clbit | ClassicalRegister):
                return bits(node.var)
            if node not in self.var_bits:
                self.var_bits[node] = self.extra_bits(_width(node.type, self.fail))
            return self.var_bits[node]
        if isinstance(node, expr.Index) and isinstance(node.index, expr.Value):
            whole = self.target_bits(node.target, bits)
            index = int(node.index.value)
            if not 0 <= index < len(whole):
                raise self.fail(f"index {index} is outside {len(whole)} bits")
            return [whole[index]]
        raise self.fail(f"{node} is not a clbit, register or variable")

    def program(self, node, bits: Callable) -> dict:
        """The postfix program of an expression of ``Bool`` or ``Uint`` type."""
        code: list[list] = []
        regs: list[list[int]] = []
        self._emit(node, code, regs, bits)
        return {"code": code, "regs": regs}

    def _emit(self, node, code: list, regs: list, bits: Callable) -> None:
        if isinstance(node, expr.Value):
            value = node.value
            if isinstance(value, bool) or (isinstance(value, int) and value >= 0):
                code.append(["const", int(value)])
                return
            raise self.fail(f"constant {value!r} is not a bool or a non-negative integer")
        if isinstance(node, expr.Var | expr.Index) and not (
            isinstance(node, expr.Index) and not isinstance(node.index, expr.Value)
        ):
            regs.append(self.target_bits(node, bits))
            code.append(["reg", len(regs) - 1])
            return
        if isinstance(node, expr.Index):  # a bit chosen at run time: (register >> index) & 1
            self._emit(node.target, code, regs, bits)
            self._emit(node.index, code, regs, bits)
            code += [["shr", 0], ["const", 1], ["and", 0]]
            return
        if isinstance(node, expr.Cast):
            self._emit(node.operand, code, regs, bits)
            if node.type.kind is types.Bool:
                code.append(["bool", 0])
            elif node.type.kind is types.Uint:
                code.append(["mask", node.type.width])
            else:
                raise self.fail(f"a cast to {node.type} is not supported")
            return
        if isinstance(node, expr.Unary):
            self._emit(node.operand, code, regs, bits)
            if node.op == expr.Unary.Op.LOGIC_NOT:
                code.append(["lnot", 0])
            elif node.op == expr.Unary.Op.BIT_NOT:
                code.append(["not", _width(node.type, self.fail)])
            elif node.op.name == "NEGATE":
                code.append(["neg", _width(node.type, self.fail)])
            else:
                raise self.fail(f"operation {node.op.name} is not supported")
            return
        if isinstance(node, expr.Binary) and node.op in _BINARY:
            op = _BINARY[node.op]
            _width(node.left.type, self.fail)
            _width(node.right.type, self.fail)
            self._emit(node.left, code, regs, bits)
            self._emit(node.right, code, regs, bits)
            code.append([op, _width(node.type, self.fail) if op in _WIDTH_ARG else 0])
            return
        raise self.fail(f"expression {node} is not supported")


def _width(type_, fail) -> int:
    """Bits of a ``Bool`` (1) or ``Uint`` value; other types cannot live on clbits."""
    if type_.kind is types.Bool:
        return 1
    if type_.kind is types.Uint and type_.width <= 64:
        return type_.width
    raise fail(f"type {type_} is not supported (aerdask evaluates Bool and Uint expressions up to 64 bits)")
