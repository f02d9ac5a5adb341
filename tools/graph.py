"""Draw the autograd graph of a model-zoo network or of your own function.

    python -m tools.graph --model resnet18 --input 1,3,32,32 --collapse 2 --out resnet18.svg
    python -m tools.graph --model mlp --input 8,2 --backward --out mlp.svg
    python -m tools.graph path/to/file.py:function --backward --out f.svg
    python -m tools.graph path/to/file.py:function --frames backprop.html

A function is called with no arguments (or with a random tensor of ``--input``'s
shape when given) and returns the output tensor.  ``--backward`` runs one
backward pass first (a non-scalar output is summed), so nodes are coloured by
their gradients.  The format follows ``--out``'s extension (svg, png, pdf);
without Graphviz installed, SVG comes from the built-in layout.
"""
import argparse
import importlib.util
import inspect
import os
import sys

import numpy as np

import autograd as ag


def parse_shape(text):
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise SystemExit(f"error: --input must be comma-separated integers like 1,3,32,32, not {text!r}")
    if not shape or min(shape) < 1:
        raise SystemExit(f"error: --input must be positive sizes, got {text!r}")
    return shape


def zoo_model(name, shape):
    """A constructor from ``nn.models`` by name (case-insensitive, '-'/'_' ignored)."""
    try:
        from nn import models
    except ImportError as e:
        raise SystemExit(f"error: the model zoo (nn.models) is not available: {e}")
    want = name.replace("-", "").replace("_", "").lower()
    found = [n for n in dir(models) if not n.startswith("_") and callable(getattr(models, n))
             and n.replace("_", "").lower() == want]
    if not found:
        have = sorted(n for n in dir(models) if not n.startswith("_") and n[0].islower()
                      and callable(getattr(models, n)))
        raise SystemExit(f"error: unknown model {name!r}; nn.models provides: {', '.join(have)}")
    # Prefer the factory function (resnet18) over a class of the same name.
    ctor = getattr(models, sorted(found, key=lambda n: isinstance(getattr(models, n), type))[0])
    params = inspect.signature(ctor).parameters
    # Sizes the input implies, and small defaults for sizes a drawing does not care about.
    known = {"in_channels": shape[1] if len(shape) == 4 else None,
             "in_features": int(np.prod(shape[1:])) if len(shape) >= 2 else None,
             "hidden_features": (32, 32), "out_features": 10}
    kwargs = {}
    for key, value in known.items():
        if key in params and value is not None and (
                params[key].default is inspect.Parameter.empty or key.startswith("in_")):
            kwargs[key] = value
    try:
        return ctor(**kwargs)
    except TypeError as e:
        raise SystemExit(f"error: cannot build {name!r} from the input shape alone ({e}); draw it "
                         "from a function instead: python -m tools.graph file.py:function")


def user_function(spec):
    path, _, fname = spec.rpartition(":")
    if not path or not fname:
        raise SystemExit(f"error: expected path/to/file.py:function, got {spec!r}")
    if not os.path.exists(path):
        raise SystemExit(f"error: no such file: {path}")
    mod_spec = importlib.util.spec_from_file_location("_tapegrad_graph_user", path)
    module = importlib.util.module_from_spec(mod_spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        mod_spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    fn = getattr(module, fname, None)
    if not callable(fn):
        raise SystemExit(f"error: {path} has no function {fname!r}")
    return fn


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.graph", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("function", nargs="?", help="path/to/file.py:function returning the output tensor")
    p.add_argument("--model", help="a model-zoo name, e.g. resnet18, lenet5, mlp")
    p.add_argument("--input", help="input shape, e.g. 1,3,32,32 (required with --model)")
    p.add_argument("--out", default=None, help="output file (.svg, .png or .pdf); default <name>.svg")
    p.add_argument("--collapse", type=int, default=None, help="draw modules at this depth as boxes")
    p.add_argument("--backward", action="store_true", help="run one backward pass and colour by gradient")
    p.add_argument("--direction", choices=("forward", "backward"), default="forward")
    p.add_argument("--show-saved", action="store_true", help="list what each op saved for backward")
    p.add_argument("--max-nodes", type=int, default=400)
    p.add_argument("--train", action="store_true", help="keep the model in training mode "
                   "(default: eval mode, so batch-norm works with a batch of one)")
    p.add_argument("--tape", action="store_true", help="also print the tape table")
    p.add_argument("--frames", metavar="HTML", help="write the backward replay as an HTML page with a slider")
    p.add_argument("--builtin-layout", action="store_true", help="use the built-in layout even if Graphviz is installed")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if bool(args.model) == bool(args.function):
        p.error("give either --model NAME or path/to/file.py:function")
    ag.manual_seed(args.seed)
    params = None
    if args.model:
        if not args.input:
            p.error("--model needs --input, e.g. --input 1,3,32,32")
        shape = parse_shape(args.input)
        model = zoo_model(args.model, shape)
        model.train(args.train)
        params = dict(model.named_parameters())
        x = ag.randn(*shape)
        output = model(x)
        name = args.model
    else:
        fn = user_function(args.function)
        output = fn(ag.randn(*parse_shape(args.input))) if args.input else fn()
        name = os.path.splitext(os.path.basename(args.function.rpartition(":")[0]))[0]
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, ag.Tensor):
        raise SystemExit(f"error: expected the function to return a Tensor, got {type(output).__name__}")
    root = output if output.numel() == 1 or output.grad_fn is None else output.sum()
    frames = None
    if args.frames:
        if root.grad_fn is None:
            raise SystemExit("error: the output has no graph, so there is no backward pass to show")
        frames = ag.backprop_frames(root, params=params, collapse=args.collapse,
                                    builtin=True if args.builtin_layout else None)
        print(f"wrote {frames.save_html(args.frames)} ({len(frames)} frames)")
    if args.backward:
        if root.grad_fn is None:
            raise SystemExit("error: the output has no graph (nothing requires grad), so there is "
                             "no backward pass to run")
        with ag.record_gradients(keep_steps=False):
            root.backward()
    graph = ag.to_dot(output, params=params, direction=args.direction, show_saved=args.show_saved,
                      collapse=args.collapse, max_nodes=args.max_nodes)
    out = args.out or f"{name}.svg"
    try:
        path = graph.render(outfile=out, builtin=True if args.builtin_layout else None)
    except (ValueError, RuntimeError) as e:
        raise SystemExit(f"error: {e}")
    layout = "built-in layout" if args.builtin_layout or not ag.viz.dot_available() else "graphviz"
    n_ops = len(ag.tape(output))
    print(f"wrote {path}: {n_ops} ops, {len(graph.model.nodes)} boxes drawn ({layout})")
    for note in graph.model.notes:
        print("note:", note)
    if args.tape:
        print(ag.tape(output))
    return path


if __name__ == "__main__":
    main()
