"""Passes: program to program on the worker, before a point runs.

``prepare`` (bind parameters, build matrices, the density transform, fuse), ``fusion``,
``staging`` and ``blocking`` (cache blocks and shard stages), ``checkpoints`` (fused copies
of noisy programs).
"""
