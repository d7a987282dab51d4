"""The example notebook runs top to bottom in a real kernel."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.cluster
def test_example_notebook_executes(tmp_path):
    nb = nbformat.read(ROOT / "examples" / "aerdask_tour.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("<b>AerJob</b>" in h and "DONE" in h and "8/8 tasks" in h for h in html)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the histogram and the sweep plot
    # job.progress() and run_sweep's progress are tqdm.auto's widget in a notebook
    widget = "application/vnd.jupyter.widget-view+json"
    assert any(widget in o.get("data", {}) for o in outputs)
    (sweep,) = [c for c in nb.cells if c.cell_type == "code" and "run_sweep(" in c.source]
    assert any(widget in o.get("data", {}) for o in sweep.outputs), "the sweep shows no progress widget"
    assert any("image/png" in o.get("data", {}) for o in sweep.outputs)
