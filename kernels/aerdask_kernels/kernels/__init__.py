"""The Numba kernels: what runs over a state's amplitudes, and the interpreter that calls them.

``gates``, ``monomial``, ``blocked`` (cache blocks), ``measure``, ``sampling``, ``bits`` and
``interpreter`` (``run_segment``, and ``control_next``: jumps and branches). Every function
here is ``@njit(nogil=True)`` or a plain helper of one; none knows a walker or an engine.
"""
