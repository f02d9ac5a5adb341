"""The tutorial notebooks run top to bottom (outputs are stripped in git).

The kernel is "python3" started with the interpreter running the tests
(jupyter_client substitutes sys.executable for the spec's "python"), so the
notebooks import this checkout's packages from the same environment.
"""
import os

import nbformat
import pytest
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = os.path.join(os.path.dirname(HERE), "notebooks")
NAMES = ["01_backprop_by_hand.ipynb", "02_graphs.ipynb", "03_custom_op.ipynb", "04_watching_training.ipynb",
         "05_forward_and_reverse.ipynb", "06_per_sample_gradients.ipynb", "07_least_squares.ipynb",
         "08_compiled_mode.ipynb"]


def test_every_notebook_is_listed():
    present = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))
    assert present == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name):
    path = os.path.join(NOTEBOOKS, name)
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{name}: commit notebooks with outputs stripped"
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": NOTEBOOKS}})
    client.execute()     # raises CellExecutionError naming the cell on any failure
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
