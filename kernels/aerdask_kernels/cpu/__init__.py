"""The CPU engines, in this process: statevector, density matrix, operator and stabilizer tableau.

The statevector, the vectorised density matrix and the operator (unitary or
superoperator) are numpy arrays whose gate rows run through the compiled interpreter
(:mod:`.rows`); they differ in what a measurement, a sample and a save read from the
state. The tableau has its own kernels (:mod:`..kernels.tableau`), and so has the matrix
product state (:mod:`..kernels.mps`).
"""

from .density_matrix import DensityMatrixEngine
from .extended import ExtendedStabilizerEngine
from .mps import MPSEngine
from .operator import OperatorEngine
from .runner import CpuRunner
from .stabilizer import StabilizerEngine
from .statevector import StatevectorEngine

__all__ = [
    "StatevectorEngine",
    "DensityMatrixEngine",
    "OperatorEngine",
    "StabilizerEngine",
    "MPSEngine",
    "ExtendedStabilizerEngine",
    "CpuRunner",
]
