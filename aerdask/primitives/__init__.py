"""Qiskit's V2 primitives on aerdask: ``SamplerV2`` and ``EstimatorV2``.

Each PUB's circuit is compiled once and its parameter values travel as an array;
workers bind, simulate and (for the estimator) compute the expectation values from
the state. Both take ``executor=`` (a thread pool or a Dask ``Client``, as
:class:`~aerdask.AerSimulator` does) and return a job with ``status``, ``cancel`` and
``result``::

    from aerdask.primitives import EstimatorV2, SamplerV2

    estimator = EstimatorV2(executor=client)
    evs = estimator.run([(ansatz, observables, values)]).result()[0].data.evs
"""

from .estimator import EstimatorV2
from .job import PrimitiveJob
from .sampler import SamplerV2

__all__ = ["EstimatorV2", "PrimitiveJob", "SamplerV2"]
