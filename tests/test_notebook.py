"""The example notebook runs top to bottom (so it never rots), renders images as HTML, and shows
progress as ``tqdm.auto`` widgets: an overall bar with the total from scan metadata, one bar per
stage, and a summary line that stays (issue 17 item 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def executed() -> Any:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True,
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    return nb


def test_quickstart_notebook_executes(executed: Any) -> None:
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if o.get("output_type") == "execute_result" and "text/html" in o.get("data", {})]
    assert any("<img" in h for h in html), "the collected image frame should render thumbnails"


def test_progress_in_a_notebook_is_tqdm_auto_widgets_with_a_total_and_a_summary(executed: Any) -> None:
    # was: text bars on stderr only (in a terminal), no total, nothing left when done
    pytest.importorskip("ipywidgets")
    cell = next(c for c in executed.cells if c.cell_type == "code" and "progress=True" in c.source)
    widgets = [o for o in cell.outputs if o.get("output_type") == "display_data" and WIDGET_VIEW in o.get("data", {})]
    assert len(widgets) >= 3, cell.outputs  # the overall bar and one per stage (scan, rebatch, map)
    state = executed.metadata["widgets"][WIDGET_STATE]["state"]
    bars = [m["state"] for m in state.values() if m["model_name"] == "FloatProgressModel"]
    assert any(b.get("max") == 300_000 and b.get("value") == 300_000 for b in bars), bars  # total from metadata
    labels = " ".join(m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel")
    assert "thresher" in labels and "scan" in labels and "map" in labels
    stderr = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    assert "thresher: 300,000 rows read -> 300,000 rows out in " in stderr  # the line that stays
