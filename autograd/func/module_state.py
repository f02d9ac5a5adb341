"""``functional_call`` and ``stack_module_state``: a module run with the parameters and
buffers it is given (PyTorch's ``torch.func`` names and rules).

A module keeps its tensors in ``_parameters`` and ``_buffers`` (nn.Module's, as
PyTorch's); ``functional_call`` swaps the named entries for the given tensors for the
duration of one call and puts the originals back, even if the call raises.  Given
tensors need not be Parameters (a batched tensor inside vmap, a tensor that requires
grad for ``grad``), which is why the swap bypasses ``Module.__setattr__``.
"""
from ..grad_mode import no_grad
from ..ops.shape import stack
from ..tensor import Tensor


def _slot(module, name):
    """(the dict holding ``name``'s tensor, its key) in ``module``'s tree."""
    path, _, leaf = name.rpartition(".")
    mod = module
    for part in path.split(".") if path else []:
        sub = mod.__dict__.get("_modules", {}).get(part)
        if sub is None:
            raise ValueError(f"functional_call: {type(module).__name__} has no submodule "
                             f"'{path}' (for the key '{name}')")
        mod = sub
    for store in ("_parameters", "_buffers"):
        d = mod.__dict__.get(store)
        if d is not None and leaf in d:
            return d, leaf
    raise ValueError(f"functional_call: {type(module).__name__} has no parameter or buffer "
                     f"named '{name}'")


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """Run ``module(*args, **kwargs)`` with the given parameters and buffers in place of
    its own (a dict name -> tensor, or a tuple of dicts); the module is left unchanged.
    ``strict=True`` requires every parameter and buffer to be given; with
    ``tie_weights`` (PyTorch's default) a tensor given for one name of a tied weight
    is used for all its names."""
    dicts = parameter_and_buffer_dicts
    if isinstance(dicts, dict):
        given = dict(dicts)
    elif isinstance(dicts, (tuple, list)) and all(isinstance(d, dict) for d in dicts):
        given = {}
        for d in dicts:
            twice = set(given) & set(d)
            if twice:
                raise ValueError(f"functional_call: {sorted(twice)} appear in more than one of "
                                 "the given dicts")
            given.update(d)
    else:
        raise TypeError("functional_call: expected a dict of tensors or a tuple of dicts, got "
                        f"{type(dicts).__name__}")
    for name, t in given.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"functional_call: the value for '{name}' is a {type(t).__name__}, "
                            "expected a Tensor")
    names = {n for n, _ in module.named_parameters(remove_duplicate=False)} | \
        {n for n, _ in module.named_buffers(remove_duplicate=False)}
    if strict:
        missing, unexpected = sorted(names - set(given)), sorted(set(given) - names)
        if missing or unexpected:
            raise RuntimeError(f"functional_call (strict): missing keys {missing}, unexpected "
                               f"keys {unexpected}")
    if tie_weights:
        given = _tied(module, given)
    swaps = [(_slot(module, name), t) for name, t in given.items()]
    old = [(d, k, d[k]) for (d, k), _ in swaps]
    try:
        for (d, k), t in swaps:
            d[k] = t
        args = () if args is None else args if isinstance(args, tuple) else (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for d, k, t in reversed(old):
            d[k] = t


def _tied(module, given):
    """Every name of a tensor shared under several names gets the tensor given for one."""
    by_id = {}
    for n, t in list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False)):
        by_id.setdefault(id(t), []).append(n)
    out = dict(given)
    for names in by_id.values():
        got = [n for n in names if n in given]
        if len({id(given[n]) for n in got}) > 1:
            raise ValueError(f"functional_call: the tied names {names} were given different "
                             "tensors")
        if got:
            for n in names:
                out.setdefault(n, given[got[0]])
    return out


def stack_module_state(models):
    """PyTorch's ``torch.func.stack_module_state``: ``(params, buffers)``, each a dict
    name -> the models' tensors stacked on a new leading dim.  The stacked parameters
    are new leaves that require grad (where the models' do); buffers never do."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: expected at least one model, got none")
    first = type(models[0])
    for m in models[1:]:
        if type(m) is not first:
            raise RuntimeError(f"stack_module_state: expected models of one class, got "
                               f"{first.__name__} and {type(m).__name__}")
    return (_stack(models, "named_parameters", keep_grad=True),
            _stack(models, "named_buffers", keep_grad=False))


def _stack(models, method, keep_grad):
    named = [dict(getattr(m, method)()) for m in models]
    keys = list(named[0])
    for k, d in enumerate(named[1:], 1):
        if list(d) != keys:
            raise RuntimeError(f"stack_module_state: model {k} has {method[6:]} {list(d)}, "
                               f"model 0 has {keys}")
    out = {}
    with no_grad():
        for name in keys:
            t = stack([d[name].detach() for d in named], 0)
            if keep_grad and named[0][name].requires_grad:
                t.requires_grad_()
            out[name] = t
    return out
