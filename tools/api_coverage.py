"""How much of PyTorch's API tapegrad covers, by family, and what is still missing.

The target list is PyTorch's own list of the ops it tests with autograd, the OpInfo
database ``op_db`` (torch.testing._internal.common_methods_invocations), together
with the ``torch.nn`` module classes.  A name is covered when it resolves in
tapegrad -- ``autograd`` / ``autograd.Tensor`` for torch functions and methods,
``nn.functional``, ``autograd.linalg``, ``autograd.special``, ``nn`` -- and is not a
stub whose body only raises NotImplementedError.  A torch op counts only when every
form PyTorch offers exists: ``torch.atan2`` and ``Tensor.atan2`` both.

    python tools/api_coverage.py             # coverage by family and the missing names
    python tools/api_coverage.py --markdown  # the README's table

Needs PyTorch (the dev extra) and its test helper ``expecttest``.
"""
import argparse
import ast
import inspect
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAMILIES = ("torch", "nn.functional", "linalg", "special", "nn modules")

# op_db entries left out, with the reason (the printed report repeats these).
DTYPE_CONVERSIONS = {"bfloat16", "bool", "byte", "char", "double", "float", "half", "int",
                     "long", "short", "cfloat", "cdouble", "chalf", "to"}
COMPLEX_ONLY = {"angle", "complex", "conj", "conj_physical", "polar", "real", "resolve_conj",
                "resolve_neg", "view_as_complex"}
# Ops whose result is complex for real input: PyTorch's eig and eigvals return complex
# tensors always (a real matrix may have complex eigenvalues), and tapegrad has no
# complex dtype; a real-only version would differ from PyTorch in dtype even where the
# eigenvalues are real, so these are left out rather than half-done.
COMPLEX_RESULT = {"linalg.eig", "linalg.eigvals"}
# ATen internals that op_db tests under their kernel names; users call the public op
# (batch_norm, layer_norm, grid_sample, pad, ...) instead.
INTERNAL = {"native_batch_norm", "native_dropout_backward", "native_group_norm",
            "native_layer_norm", "max_pool2d_with_indices_backward", "grid_sampler_2d",
            "grid_sampler_3d", "constant_pad_nd", "to_sparse", "stft"}
SKIPPED_PREFIXES = {"fft.": "FFTs", "masked.": "the prototype torch.masked",
                    "sparse.": "sparse layouts", "signal.": "window functions (no autograd)",
                    "_": "private", "torch.": "internal (torch.ops, torch._*)"}
# torch.nn classes left out: Lazy* (shape inference at first call), device-specific
# wrappers, and the deprecated names.
MODULES_LEFT_OUT = {"DataParallel": "device-specific (multi-GPU)",
                    "SyncBatchNorm": "device-specific (CUDA process groups)",
                    "Container": "deprecated", "NLLLoss2d": "deprecated (NLLLoss takes 2-d)"}


def op_db_names():
    """op_db's names, filtered as the module docstring says (needs torch)."""
    # Importing PyTorch's test helpers freezes torch.backends' flags for the rest of the
    # process (disable_global_flags): tests/test_api_coverage.py runs this in a child.
    from torch.testing._internal.common_methods_invocations import op_db
    names = set()
    for info in op_db:
        n = info.name
        if (not info.supports_autograd or n.endswith("_copy") or n in DTYPE_CONVERSIONS
                or n in COMPLEX_ONLY or n in COMPLEX_RESULT or n in INTERNAL
                or n.startswith(tuple(SKIPPED_PREFIXES))
                or not any(d.is_floating_point for d in info.dtypes)):
            continue
        names.add(n)
    return names


def nn_module_names():
    """torch.nn's public Module classes, less Lazy* and MODULES_LEFT_OUT."""
    import torch.nn
    return {n for n in dir(torch.nn) if not n.startswith(("_", "Lazy"))
            and n not in MODULES_LEFT_OUT and inspect.isclass(getattr(torch.nn, n))
            and issubclass(getattr(torch.nn, n), torch.nn.Module)}


def family_of(name):
    for prefix in ("nn.functional", "linalg", "special"):
        if name.startswith(prefix + "."):
            return prefix
    return "torch"


def torch_targets():
    """``{family: {name: forms}}``: forms are where PyTorch offers a torch op
    ("function" for ``torch.X``, "method" for ``Tensor.X``)."""
    import torch
    out = {f: {} for f in FAMILIES}
    for n in op_db_names():
        fam = family_of(n)
        short = n[len(fam) + 1:] if fam != "torch" else n
        forms = ("function",)
        if fam == "torch":
            forms = tuple(f for f, owner in (("function", torch), ("method", torch.Tensor))
                          if hasattr(owner, short)) or ("function",)
        out[fam][short] = forms
    out["nn modules"] = {n: ("class",) for n in nn_module_names()}
    return out


def is_stub(obj, reference=None):
    """True for a function whose body, past its docstring, is only ``raise
    NotImplementedError``, or a class whose __init__ is one or whose forward is one
    where the ``reference`` class's is not (``nn.Module.forward`` is abstract in both)."""
    if inspect.isclass(obj):
        ref_forward = getattr(reference, "forward", None)
        return is_stub(getattr(obj, "__init__", None)) or (
            is_stub(getattr(obj, "forward", None)) and not is_stub(ref_forward))
    fn = inspect.unwrap(obj) if callable(obj) else None
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (TypeError, OSError):
        return False                   # builtins, properties, NumPy objects: real
    tree = ast.parse(source).body
    if not tree or not isinstance(tree[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = tree[0].body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def namespaces():
    """Where each family's names resolve in tapegrad."""
    import autograd
    import nn
    import nn.functional
    ns = {"function": autograd, "method": autograd.Tensor, "nn.functional": nn.functional,
          "class": nn}
    for fam in ("linalg", "special"):
        ns[fam] = getattr(autograd, fam, None)
    return ns


def resolves(owner, name, reference=None):
    if owner is None:
        return False
    try:
        obj = inspect.getattr_static(owner, name) if inspect.isclass(owner) else getattr(owner, name)
    except AttributeError:
        return False
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    return not is_stub(obj, getattr(reference, name, None))


def coverage(targets, ns, reference=None):
    """``{family: (covered names, {missing name: what is missing})}``; ``reference``
    is the module holding PyTorch's nn classes (for is_stub)."""
    report = {}
    for fam, names in targets.items():
        covered, missing = [], {}
        for name, forms in sorted(names.items()):
            lacking = [f for f in forms
                       if not resolves(ns[fam] if fam in ("nn.functional", "linalg", "special")
                                       else ns[f], name, reference if f == "class" else None)]
            if lacking:
                missing[name] = lacking
            else:
                covered.append(name)
        report[fam] = (covered, missing)
    return report


def _label(fam):
    return {"torch": "torch functions and Tensor methods", "nn modules": "torch.nn modules"}.get(fam, fam)


def markdown(report):
    rows = ["| family | covered | of | share |", "|---|---:|---:|---:|"]
    total_c = total_n = 0
    for fam in FAMILIES:
        c, m = report.get(fam, ((), {}))
        n = len(c) + len(m)
        total_c, total_n = total_c + len(c), total_n + n
        rows.append(f"| {_label(fam)} | {len(c)} | {n} | {100 * len(c) / max(n, 1):.0f}% |")
    rows.append(f"| **all** | **{total_c}** | **{total_n}** | "
                f"**{100 * total_c / max(total_n, 1):.0f}%** |")
    return "\n".join(rows)


def text(report):
    lines = []
    for fam in FAMILIES:
        c, m = report.get(fam, ((), {}))
        n = len(c) + len(m)
        lines.append(f"{_label(fam)}: {len(c)}/{n} ({100 * len(c) / max(n, 1):.0f}%)")
        if m:
            names = [k if v in (["function"], ["class"]) or len(v) > 1 else f"{k} ({v[0]})"
                     for k, v in m.items()]
            lines.append(textwrap.indent(textwrap.fill("missing: " + ", ".join(names), 96), "  "))
    lines.append("left out: dtype conversions, complex-only ops (" + ", ".join(sorted(COMPLEX_ONLY))
                 + "), complex results for real input (" + ", ".join(sorted(COMPLEX_RESULT))
                 + ": no complex dtype), ATen internals (" + ", ".join(sorted(INTERNAL)) + "), "
                 + ", ".join(f"{p}* ({why})" for p, why in SKIPPED_PREFIXES.items())
                 + ", *_copy variants, ops without autograd; nn: Lazy* (shape inference at "
                 "first call), " + ", ".join(f"{k} ({v})" for k, v in MODULES_LEFT_OUT.items()))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", action="store_true", help="print the README's coverage table")
    args = p.parse_args(argv)
    import torch.nn
    report = coverage(torch_targets(), namespaces(), torch.nn)
    print(markdown(report) if args.markdown else text(report))


if __name__ == "__main__":
    main()
