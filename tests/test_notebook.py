"""The tutorial notebook (``notebooks/tutorial.py``, jupytext percent format) runs from top
to bottom in a real Jupyter kernel, and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "tutorial.py"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jupyter_client's own path notices
def test_the_tutorial_executes_in_a_kernel(tmp_path):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    notebook = jupytext.read(NOTEBOOK)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                   for o in outputs)
    assert "calibration/results/salmon_cluster.toml" in text  # the calibrated baseline
    assert "objective" in text                                  # the calibration summary


def test_the_tutorial_is_stored_without_outputs():
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert '"outputs"' not in text and "execution_count" not in text
