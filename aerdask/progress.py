"""Progress bars with ``tqdm.auto``: a widget in Jupyter, a terminal bar (rate and ETA) elsewhere."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from .completion import wait

__all__ = ["show_progress", "progress_bar"]


def progress_bar(total: int, unit: str, desc: str, file=None, initial: int = 0):
    """A ``tqdm.auto`` bar; ``file`` (a stream) forces the terminal bar and writes there.

    Args:
        total: Units to reach.
        unit: What one unit is (``"task"``, ``"point"``).
        desc: The bar's label.
        file: Stream for a terminal bar; ``None`` lets ``tqdm.auto`` pick the notebook widget or
            ``sys.stderr``.
        initial: Units done before the bar starts (a resumed sweep's points): shown, but
            not counted in the rate.
    """
    if file is not None:
        from tqdm.std import tqdm as terminal_tqdm  # a stream asks for text, even inside a notebook

        return terminal_tqdm(
            total=total, unit=unit, desc=desc, file=file, dynamic_ncols=False, ncols=100, initial=initial
        )
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, initial=initial)


def show_progress(job, interval: float = 0.2, file=None) -> None:
    """Block until ``job`` is final, showing its experiments done out of total and its state.

    Experiments, not tasks: what ``result.results`` will hold, however the job was split.

    Args:
        job: An :class:`~aerdask.AerJob` (submitted).
        interval: Seconds between refreshes at most (the wait is woken early when tasks finish).
        file: Stream for a terminal bar (default: a widget in Jupyter, ``sys.stderr`` elsewhere).
    """
    with progress_bar(job.experiments(), "experiment", f"job {job.task_prefix}", file) as bar:
        while True:
            final = job.in_final_state()
            bar.update(job.experiments_done() - bar.n)
            note = None if final else job.waiting_on()
            bar.set_postfix_str(job.status().name + (f" ({note})" if note else ""), refresh=True)
            if final:
                break
            wait([job], interval)  # returns early when the job ends
