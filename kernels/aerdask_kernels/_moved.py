"""Old module paths that still import: modules moved into the folders by concern (issue 32).

``import aerdask_kernels.gates`` gives the module ``aerdask_kernels.kernels.gates`` itself
(the same object, so a monkeypatch or an ``isinstance`` sees one module). New code imports
the new paths; ``CHANGELOG.md`` lists the moves.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["MOVED", "install"]

#: Old name (under ``aerdask_kernels.``) -> where the module lives now.
MOVED = {
    "program": "format.program",
    "options": "format.options",
    "packing": "format.packing",
    "validation": "format.validation",
    "value_checks": "format.value_checks",
    "expressions": "format.expressions",
    "standard": "format.standard",
    "classical": "format.classical",
    "gates": "kernels.gates",
    "monomial": "kernels.monomial",
    "blocked": "kernels.blocked",
    "measure": "kernels.measure",
    "sampling": "kernels.sampling",
    "bits": "kernels.bits",
    "interpreter": "kernels.interpreter",
    "prepare": "passes.prepare",
    "fusion": "passes.fusion",
    "staging": "passes.staging",
    "blocking": "passes.blocking",
    "checkpoints": "passes.checkpoints",
    "noise": "runtime.noise",
    "shards": "sharded.shard_ops",
}

_PACKAGE = __name__.rpartition(".")[0]


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old name and hands back the moved module."""

    def find_spec(self, fullname, path=None, target=None):
        prefix = _PACKAGE + "."
        if fullname.startswith(prefix) and fullname[len(prefix) :] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{_PACKAGE}.{MOVED[spec.name[len(_PACKAGE) + 1 :]]}")

    def exec_module(self, module):
        """Nothing: the moved module ran when it was imported under its own name."""


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())


install()
