"""The repository's top level is the user's: these entries and nothing else (hidden
ones, such as .ci/ and .gitignore, are the tools')."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_LEVEL = {"pyproject.toml", "README.md", "autograd", "nn", "optim", "tests", "notebooks", "tools"}


def test_no_unlisted_top_level_entry():
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    top = {f.split("/")[0] for f in files if not f.startswith(".")}
    assert top <= TOP_LEVEL, f"unlisted top-level entries: {sorted(top - TOP_LEVEL)}"


def test_the_readme_pictures_exist():
    import re
    text = open(os.path.join(ROOT, "README.md")).read()
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert os.path.exists(os.path.join(ROOT, path)), path
