"""The program format: what a client sends a worker (plain data, versioned) and its checks.

``program`` (``Program``, ``Experiment``, ``FORMAT_VERSION``), ``options`` (``ProgramOptions``),
``packing``, ``validation`` and ``value_checks``, and the tables the rows refer to:
``expressions``, ``standard`` (gates built from parameters) and ``classical``. The opcode
table itself is ``aerdask_kernels.opcodes``, which everything reads.
"""
