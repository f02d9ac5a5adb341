"""The README's Python examples run as written."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ALL_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
# Examples that start with this line run under mpiexec, in tests/test_distributed.py.
MPI_MARK = "# run with: mpiexec"
BLOCKS = [b for b in ALL_BLOCKS if not b.startswith(MPI_MARK)]
MPI_BLOCKS = [b for b in ALL_BLOCKS if b.startswith(MPI_MARK)]


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_example_runs(k):
    exec(compile(BLOCKS[k], f"README.md[python block {k}]", "exec"), {})


def test_readme_names_the_test_command_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "bash tools/test.sh" in ci and "bash tools/test.sh" in README.read_text()
