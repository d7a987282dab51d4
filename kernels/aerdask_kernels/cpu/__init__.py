"""The CPU engines: a statevector and a vectorised density matrix, as numpy arrays in this process.

Both run their gate rows through the compiled interpreter (:mod:`.rows`); they differ
in what a measurement, a sample and a save read from the state.
"""

from .density_matrix import DensityMatrixEngine
from .runner import CpuRunner
from .statevector import StatevectorEngine

__all__ = ["StatevectorEngine", "DensityMatrixEngine", "CpuRunner"]
