"""What a run raises: a cancelled job, a failed experiment."""

from __future__ import annotations

__all__ = ["JobCancelledError", "ExperimentError"]


class JobCancelledError(Exception):
    """The job's cancel flag was set while it ran."""


class ExperimentError(RuntimeError):
    """An experiment failed on the worker; names it and keeps the results done before it.

    Attributes:
        index: Input position of the failed experiment.
        name: Its circuit name.
        partial: Plain results of the experiments of the same task that finished first.

    """

    def __init__(self, message: str, index: int = -1, name: str = "", partial: list | None = None):
        super().__init__(message)
        self.index = index
        self.name = name
        self.partial = partial or []

    def __reduce__(self):  # keep the fields across pickling (Dask ships exceptions)
        return (type(self), (self.args[0], self.index, self.name, self.partial))
