"""Progress of a job: a terminal bar for scripts, a live HTML line for notebooks."""

from __future__ import annotations

import sys
import time

__all__ = ["show_progress", "in_notebook", "progress_text"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where HTML displays update in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def progress_text(done: int, total: int, unit: str = "tasks", width: int = 30) -> str:
    """``[#####.....] 5/10 tasks`` style text."""
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {unit}"


def show_progress(job, interval: float = 0.2, file=None, notebook: bool | None = None) -> None:
    """Block until ``job`` is final, showing its tasks done out of total.

    Args:
        job: An :class:`~aerdask.AerJob` (submitted).
        interval: Seconds between refreshes (the wait is woken early when tasks finish).
        file: Stream for the terminal bar (default ``sys.stderr``).
        notebook: Force the notebook (HTML) or terminal display; default detects.
    """
    notebook = in_notebook() if notebook is None else notebook
    handle = None
    if notebook:
        from IPython.display import HTML, display

        handle = display(HTML(job._repr_html_()), display_id=True)
    stream = file or sys.stderr
    while True:
        final = job.in_final_state()
        done, total = job.tasks_done(), job.tasks()
        if handle is not None:
            handle.update(HTML(job._repr_html_()))
        else:
            stream.write(f"\r{progress_text(done, total)} {job.status().name:<12}")
            stream.flush()
        if final:
            break
        job._adapter.wait(job._handles, interval)
        time.sleep(0)  # let the display thread breathe between refreshes
    if handle is None:
        stream.write("\n")
        stream.flush()
