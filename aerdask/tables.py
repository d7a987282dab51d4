"""A sweep's records as a table: one column per parameter and per outcome, in Parquet, pandas or xarray.

A sweep journals its points as JSON lines (:mod:`.sweep`); this module turns records
(``{"index", <parameter>..., "shots", "counts": {bitstring: n}}`` or ``"evs": {label:
value}``) into flat columns: ``index``, the parameters (float64), ``shots``, then
``counts.<bitstring>`` (int64, 0 where a point never saw it) and ``evs.<label>``
(float64), the names ``pandas.json_normalize`` would give. Parquet files are written by
pyarrow in row groups; the sweep's parameter names travel in the file's metadata, so
:func:`to_xarray` knows the grid's dimensions. pandas, pyarrow and xarray are imported
only here, when a table is asked for (``pip install "aerdask[table]"``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import AerdaskInputError

__all__ = ["columns", "load", "to_xarray", "write_parquet", "parameter_names", "check_writable", "OUTCOMES"]

#: What :func:`load` gives per bitstring: the counts, or the counts over the shots.
OUTCOMES = ("counts", "probabilities")
#: The Parquet file's metadata key holding the sweep's parameter names (JSON).
PARAMETERS_KEY = b"aerdask.parameters"
#: Points per Parquet row group: a reader can skip to any 10**4 points.
ROW_GROUP_POINTS = 10_000


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise AerdaskInputError(
            f"a sweep table needs {module}: pip install 'aerdask[table]' (pandas, pyarrow and xarray)"
        ) from None


def check_writable(output: str | Path) -> None:
    """Raise now if a sweep could not write its table to ``output`` (a ``.parquet`` without pyarrow).

    Raises:
        AerdaskInputError: naming the extra to install.
    """
    if Path(output).suffix == ".parquet":
        _require("pyarrow")


def columns(records: list[dict], names: list[str]) -> dict[str, np.ndarray]:
    """Flat columns of ``records`` in index order (see the module docstring).

    Args:
        records: One dict per point, each with ``index``, ``shots``, every name in
            ``names`` and ``counts`` and/or ``evs``.
        names: The sweep's parameter names, in column order.

    Returns:
        ``{column: array}``, every array of ``len(records)`` entries.
    """
    records = sorted(records, key=lambda r: r["index"])
    out = {"index": np.array([r["index"] for r in records], dtype=np.int64)}
    for name in names:
        out[name] = np.array([r[name] for r in records], dtype=np.float64)
    out["shots"] = np.array([r["shots"] for r in records], dtype=np.int64)
    for field, dtype, fill in (("counts", np.int64, 0), ("evs", np.float64, np.nan)):
        keys = sorted({key for r in records for key in r.get(field, ())})
        for key in keys:
            out[f"{field}.{key}"] = np.array([r.get(field, {}).get(key, fill) for r in records], dtype=dtype)
    return out


def write_parquet(path: str | Path, records: list[dict], names: list[str], row_group_points: int = ROW_GROUP_POINTS):
    """Write ``records`` as a Parquet table, replacing ``path`` in one step (written aside, then renamed).

    Raises:
        AerdaskInputError: without pyarrow.
    """
    _require("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    table = pa.table(columns(records, names))
    table = table.replace_schema_metadata({PARAMETERS_KEY: json.dumps(names).encode()})
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    pq.write_table(table, tmp, row_group_size=row_group_points)
    os.replace(tmp, path)


def parameter_names(path: str | Path) -> list[str]:
    """The parameter names of the sweep table or journal at ``path``."""
    path = Path(path)
    if path.suffix == ".parquet":
        _require("pyarrow")
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        if PARAMETERS_KEY in meta:
            return json.loads(meta[PARAMETERS_KEY])
        raise AerdaskInputError(f"{path}: not a sweep table (no {PARAMETERS_KEY.decode()} in its metadata)")
    sidecar = path.with_name(path.name + ".meta.json")
    try:
        return json.loads(sidecar.read_text())["names"]
    except (OSError, ValueError, KeyError):
        raise AerdaskInputError(f"{path}: no readable {sidecar.name} beside it: its parameters are unknown") from None


def _read_journal(path: Path) -> list[dict]:
    records = []
    with path.open("rb") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line of an interrupted sweep
            if isinstance(record, dict) and "index" in record:
                records.append(record)
    return records


def load(path: str | Path, outcomes: str = "counts"):
    """A sweep's results as a pandas DataFrame: one row per point, in point order.

    Args:
        path: A sweep's output: its Parquet table, or a JSON-lines file (with its
            ``.meta.json`` sidecar).
        outcomes: ``"counts"`` (``counts.<bitstring>`` columns, int64) or
            ``"probabilities"`` (``probabilities.<bitstring>``: the counts over the shots).

    Returns:
        ``pandas.DataFrame`` with ``index``, the parameters, ``shots``, the outcome
        columns and ``evs.<label>`` for an observable sweep; ``df.attrs["parameters"]``
        names the parameters.

    Raises:
        AerdaskInputError: for a file that is missing or not a sweep's, an unknown
            ``outcomes``, or without pandas (and pyarrow, for Parquet).
    """
    if outcomes not in OUTCOMES:
        raise AerdaskInputError(f"outcomes={outcomes!r}: use one of {list(OUTCOMES)}")
    path = Path(path)
    if not path.is_file():
        raise AerdaskInputError(f"{path}: no such file")
    pd = _require("pandas")
    names = parameter_names(path)
    if path.suffix == ".parquet":
        _require("pyarrow")
        frame = pd.read_parquet(path)
    else:
        frame = pd.DataFrame(columns(_read_journal(path), names))
    if outcomes == "probabilities":
        counts = [c for c in frame.columns if c.startswith("counts.")]
        probabilities = frame[counts].div(frame["shots"], axis=0)
        probabilities.columns = ["probabilities." + c[len("counts.") :] for c in counts]
        frame = pd.concat([frame.drop(columns=counts), probabilities], axis=1)
    frame.attrs["parameters"] = names
    return frame


def to_xarray(table):
    """A grid sweep's table (from :func:`load`) as an ``xarray.Dataset`` with one dimension per parameter.

    Raises:
        AerdaskInputError: if the points are not a grid (a parameter combination twice),
            or without xarray.
    """
    _require("xarray")
    names = table.attrs.get("parameters")
    if not names:
        raise AerdaskInputError("the table does not name its parameters: load it with aerdask.sweep.load")
    if table.duplicated(subset=names).any():
        raise AerdaskInputError(f"the points repeat values of {names}: not a grid, so no dimensions to give them")
    return table.set_index(names).to_xarray()
