"""The house's floors (README, "How it works"): every module imports only from its own
floor or below, and no modules import each other in a circle, counting imports
inside functions too.  The one exception is the package face's lazy PyTorch-style
namespaces (``autograd.nn``, ``autograd.optim``, ``autograd.utils``), which are
reached through ``importlib`` on first attribute access and are listed here by name.
"""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (module prefix, floor), from the ground up; the longest matching prefix decides.
FLOORS = [
    ("autograd.kernels", 1),
    ("autograd.dtypes", 2), ("autograd.grad_mode", 2), ("autograd.tensor", 2),
    ("autograd.function", 2), ("autograd.custom_function", 2), ("autograd.engine", 2),
    ("autograd.device", 2), ("autograd.creation", 2), ("autograd.serialization", 2),
    ("autograd.graph", 2), ("autograd.forward_ad", 2), ("autograd.backends", 2),
    ("autograd.hub", 2),
    ("autograd.ops", 3),
    # faces over the ops (torch.linalg, torch.special), mixed precision
    ("autograd.linalg", 3.5), ("autograd.special", 3.5), ("autograd.amp", 3.5),
    ("autograd.gradcheck", 4), ("autograd.tape_check", 4),
    # the transforms and tools that run ops: above them, below the viewers
    ("autograd.functional", 4.2), ("autograd.func", 4.3), ("autograd.profiler", 4.2),
    ("autograd.compile", 4.5),
    ("autograd.viz", 5),
    ("autograd.data", 6), ("autograd.utils", 6),
    ("autograd", 6.5),          # the package face: everything in autograd, nothing above
    ("nn", 7), ("optim", 8), ("tools", 9),
]
# Reached lazily by autograd/__init__.py's __getattr__, never by an import statement.
LAZY_ALIASES = {"autograd.nn": "nn", "autograd.optim": "optim", "autograd.utils": "autograd.utils",
                "autograd.profiler": "autograd.profiler"}


def _floor(module):
    best = max((p for p, _ in FLOORS if module == p or module.startswith(p + ".")), key=len, default=None)
    return dict(FLOORS).get(best)


def _imports():
    """(importer, imported module, line) for every import statement in the project."""
    found = []
    for top in ("autograd", "nn", "optim", "tools"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                is_pkg = dotted.endswith(".__init__")
                module = dotted[:-len(".__init__")] if is_pkg else dotted
                package = module if is_pkg else module.rpartition(".")[0]
                for node in ast.walk(ast.parse(open(path).read())):
                    if isinstance(node, ast.Import):
                        found += [(module, a.name, node.lineno) for a in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.level:
                        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                        targets = [base + "." + node.module] if node.module else \
                            [base + "." + a.name for a in node.names]
                        found += [(module, t, node.lineno) for t in targets]
                    elif isinstance(node, ast.ImportFrom):
                        found.append((module, node.module, node.lineno))
    return found


def test_no_module_imports_from_a_floor_above_its_own():
    upward = [f"{src}:{line} imports {dst} (floor {_floor(dst)} above {_floor(src)})"
              for src, dst, line in _imports()
              if _floor(src) is not None and _floor(dst) is not None and _floor(dst) > _floor(src)]
    assert not upward, "\n".join(upward)


def test_no_import_circles():
    edges = {}
    modules = {src for src, _, _ in _imports()}
    for src, dst, _ in _imports():
        if dst in modules and dst != src:
            edges.setdefault(src, set()).add(dst)
    # Tarjan's strongly connected components, iteratively.
    index, low, on_stack, stack, circles, counter = {}, {}, set(), [], [], [0]
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    assert not circles, circles


def test_the_lazy_aliases_are_the_listed_exception():
    import importlib

    import autograd
    face = open(os.path.join(ROOT, "autograd", "__init__.py")).read()
    assert "import nn" not in face and "import optim" not in face
    for alias, target in LAZY_ALIASES.items():
        assert getattr(autograd, alias.split(".")[1]) is importlib.import_module(target)


# -- private fields: the viewers read tape nodes through their public API, and nn and
# optim call the engine through public functions (GUIDE.md, "Never") ---------------------
ENGINE_FILES = ("autograd/function.py", "autograd/engine.py")
VIEWERS = ("autograd/viz", "autograd/tape_check.py", "autograd/gradcheck.py")
# PyTorch's own public names that start with an underscore: nn and optim may use them.
PYTORCH_PUBLIC = {"_base"}          # Tensor._base: the tensor a view shares memory with


def _sources(*tops):
    for top in tops:
        path = os.path.join(ROOT, top)
        if top.endswith(".py"):
            yield top, ast.parse(open(path).read())
            continue
        for folder, _, files in os.walk(path):
            for name in sorted(files):
                if name.endswith(".py"):
                    full = os.path.join(folder, name)
                    yield os.path.relpath(full, ROOT), ast.parse(open(full).read())


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def _node_fields():
    """Private attributes the engine files store on objects other than tensors: the
    fields of a tape node (``_edges``, ``_seq``, ``_saved`` ...)."""
    from autograd.tensor import Tensor
    tensor_own = {n for n in list(vars(Tensor)) + list(Tensor.__slots__) if _private(n)}
    stored = {n.attr for _, tree in _sources(*ENGINE_FILES) for n in ast.walk(tree)
              if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and _private(n.attr)}
    return stored - tensor_own


def test_viewers_read_tape_nodes_only_through_the_public_node_api():
    fields = _node_fields()
    assert {"_edges", "_seq", "_saved", "_saved_outputs", "_out_meta", "_scope"} <= fields
    found = [f"{path}:{n.lineno} reads .{n.attr}" for path, tree in _sources(*VIEWERS)
             for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and n.attr in fields]
    found += [f"{path}:{n.lineno} calls setattr" for path, tree in _sources(*VIEWERS)
              for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "setattr"]
    assert not found, "use next_functions, sequence_nr(), saved_tensor_info, ...:\n" + "\n".join(found)


def test_nn_and_optim_use_no_engine_privates():
    from autograd.function import Primitive
    from autograd.tensor import Tensor
    privates = {n for cls in (Tensor, Primitive) for n in list(vars(cls)) + list(getattr(cls, "__slots__", ()))
                if _private(n)} | _node_fields()
    privates -= PYTORCH_PUBLIC
    found = []
    for path, tree in _sources("nn", "optim"):
        for n in ast.walk(tree):
            # A class's use of its own (or its base's) members is not a reach into the
            # engine: receivers self and cls are exempt.
            if (isinstance(n, ast.Attribute) and n.attr in privates
                    and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))):
                found.append(f"{path}:{n.lineno} uses .{n.attr}")
            elif isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "autograd":
                found += [f"{path}:{n.lineno} imports {a.name} from {n.module}"
                          for a in n.names if _private(a.name)]
    assert not found, "\n".join(found)


def test_only_the_core_reads_a_nodes_edges():
    """A node's ``_edges`` are the engine's (function.py records them, engine.py replays
    them); ops, viewers and everything above read ``next_functions``, or what forward
    saved, instead."""
    core = {os.path.join("autograd", "function.py"), os.path.join("autograd", "engine.py")}
    readers = []
    for top in ("autograd", "nn", "optim", "tools"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                path = os.path.relpath(os.path.join(folder, name), ROOT)
                if name.endswith(".py") and path not in core:
                    tree = ast.parse(open(os.path.join(ROOT, path)).read())
                    readers += [f"{path}:{n.lineno}" for n in ast.walk(tree)
                                if isinstance(n, ast.Attribute) and n.attr == "_edges"]
    assert not readers, readers
