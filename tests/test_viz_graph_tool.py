"""python -m tools.graph: zoo models and user functions to SVG."""
import xml.etree.ElementTree as ET

import pytest

from tools import graph as tool

SVG = "{http://www.w3.org/2000/svg}"


def node_texts(path):
    root = ET.parse(path).getroot()
    out = []
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            out.append(" ".join(t.text or "" for t in g.iter(SVG + "text")))
    return out


def test_user_function_with_backward(tmp_path, capsys):
    src = tmp_path / "model.py"
    src.write_text("import autograd as ag\n"
                   "def f():\n"
                   "    x = ag.tensor([1.0, 2.0], requires_grad=True)\n"
                   "    x.name = 'x'\n"
                   "    return (x * x).tanh()\n")
    out = tmp_path / "f.svg"
    tool.main([f"{src}:f", "--backward", "--out", str(out), "--tape"])
    texts = node_texts(out)
    assert any(t.startswith("x ") and "|grad| " in t and "---" not in t for t in texts)
    assert any(t.startswith("Tanh") for t in texts)
    printed = capsys.readouterr().out
    assert "2 ops" in printed and "Mul" in printed


def test_zoo_model_collapsed_with_builtin_layout(tmp_path, capsys):
    out = tmp_path / "resnet18.svg"
    tool.main(["--model", "resnet18", "--input", "1,3,32,32", "--collapse", "2", "--backward",
               "--out", str(out), "--builtin-layout"])
    texts = node_texts(out)
    boxes = [t for t in texts if " ops" in t]
    assert sum(t.startswith("layer1.0 ") for t in boxes) == 1 and len(boxes) == 8
    assert all("|grad| ---" not in t for t in boxes)
    assert "built-in layout" in capsys.readouterr().out


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(SystemExit, match="unknown model 'resnet7'.*resnet18"):
        tool.main(["--model", "resnet7", "--input", "1,3,32,32"])
    with pytest.raises(SystemExit, match="comma-separated"):
        tool.main(["--model", "resnet18", "--input", "a,b"])
    with pytest.raises(SystemExit, match="no such file"):
        tool.main([f"{tmp_path}/missing.py:f"])
    with pytest.raises(SystemExit, match="unknown format 'bmp'"):
        tool.main(["--model", "lenet5", "--input", "1,1,28,28", "--out", str(tmp_path / "x.bmp")])


def test_frames_page(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import autograd as ag\n"
                   "def f(x):\n"
                   "    w = ag.ones(3, requires_grad=True)\n"
                   "    return (x * w).sum()\n")
    page = tmp_path / "bp.html"
    tool.main([f"{src}:f", "--input", "3", "--frames", str(page), "--out", str(tmp_path / "g.svg")])
    assert 'type="range"' in page.read_text()
