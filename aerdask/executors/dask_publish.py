"""Published jobs on a Dask scheduler: findable by id from a new client, never unpickled, signed.

A published job is two things on the scheduler:

* a Dask dataset ``aerdask-job-<id>`` holding the job's futures, which keeps their
  results on the cluster. aerdask never reads it back (``Client.get_dataset``
  unpickles whatever is stored there, and any client of the scheduler can replace it);
* a record in the scheduler's metadata, ``("aerdask", "jobs", <id>)``: plain msgpack
  data (the job id, the task keys, the program as :mod:`aerdask.publishing` bytes)
  and an HMAC-SHA256 over them with the publishing user's key (:func:`publish_key`).

:meth:`DaskPublisher.lookup` checks the record's types, its job id against the one
asked for, and its signature before it parses anything, then re-attaches futures to
the signed keys. Another client can still delete a job (Dask has no owners), but it
cannot make a retrieve return its own results or run code in the retrieving client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

import distributed
from qiskit.providers import JobError

from aerdask_worker import scheduler_has_keys

from .. import config
from ..publishing import published_bytes, read_published
from .dask_calls import bounded, run_on_scheduler

__all__ = ["DaskPublisher", "publish_key", "PREFIX"]

#: Datasets named so hold a published job's futures.
PREFIX = "aerdask-job-"
_RECORD_FORMAT = 1


def publish_key() -> bytes:
    """This user's key for signing published jobs (``aerdask.publish-key-file``).

    Default ``$XDG_CONFIG_HOME/aerdask/publish.key`` (``~/.config/...``): 32 random
    bytes, created on first use with mode 0600 (never wider, not even for a moment).
    A job can be retrieved by whoever holds the same file: the same user on the same
    home directory (a restarted notebook kernel), or a copy of it.
    """
    path = config.get("publish-key-file")
    if path:
        path = Path(path).expanduser()
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        path = base / "aerdask" / "publish.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def _signature(key: bytes, job_id: str, keys: list[str], job: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(json.dumps([_RECORD_FORMAT, job_id, keys]).encode())
    mac.update(b"\0")
    mac.update(job)
    return mac.hexdigest()


class DaskPublisher:
    """Publishes, finds and forgets jobs on one client's scheduler (see the module docs)."""

    def __init__(self, client: distributed.Client):
        self.client = client

    def _meta(self, job_id: str) -> list[str]:
        return ["aerdask", "jobs", job_id]

    def publish(self, job_id: str, futures: list, program, chunks) -> None:
        """Keep ``futures`` on the cluster and sign a record of the job under its id."""
        # The tasks are consecutive runs of the program's points: their sizes rebuild them.
        job = published_bytes(program, [chunk.num_points for chunk in chunks])
        keys = [str(f.key) for f in futures]
        record = {
            "format": _RECORD_FORMAT,
            "job_id": job_id,
            "keys": keys,
            "job": job,
            "signature": _signature(publish_key(), job_id, keys, job),
        }
        client = self.client
        bounded(client, "publishing a job", client.publish_dataset, **{PREFIX + job_id: futures}, override=True)
        self._set_record(job_id, record)

    def lookup(self, job_id: str):
        """``(program, chunks, futures)`` of a published job, or ``None`` if the id is not there.

        Raises:
            JobError: if what is stored under the id is not a job this user published
                (another format, another id, a signature that does not verify), or its
                results are no longer on the cluster.
        """
        client = self.client
        record = bounded(
            client,
            "looking up a job",
            client.sync,
            client.scheduler.get_metadata,
            keys=self._meta(job_id),
            default=None,
        )
        if record is None:
            return None
        keys, job = self._check(job_id, record)
        program, sizes = read_published(job, job_id)
        if program.job_id != job_id or len(sizes) != len(keys):
            raise JobError(f"the stored record of job {job_id!r} does not describe that job")
        if not run_on_scheduler(client, scheduler_has_keys, keys):
            raise JobError(f"job {job_id!r} is published but its results are no longer on the cluster")
        futures = [distributed.Future(key, client) for key in keys]
        # The step Client.get_dataset takes after binding futures: ask the scheduler for their states.
        client._inform_scheduler_of_futures()
        starts = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        chunks = [program.points(starts[i], starts[i + 1]) for i in range(len(sizes))]
        return program, chunks, futures

    def _check(self, job_id: str, record) -> tuple[list[str], bytes]:
        """The keys and program bytes of a stored record, after its types, id and signature check out."""
        # msgpack brings lists back as tuples, and large bytes may come as a memoryview.
        fields = {
            "format": int,
            "job_id": str,
            "keys": list | tuple,
            "job": bytes | bytearray | memoryview,
            "signature": str,
        }
        if not isinstance(record, dict) or any(not isinstance(record.get(k), t) for k, t in fields.items()):
            raise JobError(f"what is stored under job {job_id!r} was not written by aerdask")
        keys, job = list(record["keys"]), bytes(record["job"])
        if record["format"] != _RECORD_FORMAT or not all(isinstance(k, str) for k in keys):
            raise JobError(f"what is stored under job {job_id!r} was not written by this aerdask")
        if record["job_id"] != job_id:
            raise JobError(f"the record stored under job {job_id!r} is that of job {record['job_id']!r}")
        expected = _signature(publish_key(), job_id, keys, job)
        if not hmac.compare_digest(expected, record["signature"]):
            raise JobError(
                f"job {job_id!r} on this cluster was not published with this user's key, or was changed since "
                "(aerdask.publish-key-file); it is not read"
            )
        return keys, job

    def published(self) -> list[str]:
        """Ids of the jobs whose futures the scheduler keeps."""
        names = bounded(self.client, "listing published jobs", self.client.list_datasets)
        return [name[len(PREFIX) :] for name in names if str(name).startswith(PREFIX)]

    def unpublish(self, job_id: str) -> None:
        """Forget a published job: its futures' dataset and its record."""
        client = self.client
        if client.status != "running":
            return  # a lost scheduler took its datasets with it; a closed client cannot reach one
        try:
            bounded(client, "unpublishing a job", client.unpublish_dataset, PREFIX + job_id)
        except (KeyError, OSError, JobError):  # already gone, or the scheduler is going away
            pass
        except Exception:  # noqa: BLE001 (a slow scheduler: the record below still goes)
            pass
        try:
            self._set_record(job_id, None)
        except Exception:  # noqa: BLE001 (the scheduler is going away)
            pass

    def _set_record(self, job_id: str, record: dict | None) -> None:
        client = self.client
        setter = client.scheduler.set_metadata
        bounded(client, "storing a job's record", client.sync, setter, keys=self._meta(job_id), value=record)
