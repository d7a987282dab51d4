"""The CPU engines, in this process: a statevector, a vectorised density matrix, an operator
(unitary or superoperator) and a stabilizer tableau.

The first three are numpy arrays whose gate rows run through the compiled interpreter
(:mod:`.rows`); they differ in what a measurement, a sample and a save read from the
state. The tableau has its own kernels (:mod:`..kernels.tableau`).
"""

from .density_matrix import DensityMatrixEngine
from .operator import OperatorEngine
from .runner import CpuRunner
from .stabilizer import StabilizerEngine
from .statevector import StatevectorEngine

__all__ = ["StatevectorEngine", "DensityMatrixEngine", "OperatorEngine", "StabilizerEngine", "CpuRunner"]
