"""`Optimizer`: parameter groups, per-parameter state and (de)serialisation.

Follows ``torch.optim.Optimizer``: ``params`` is an iterable of tensors or of dicts
(param groups, each with a ``"params"`` list and per-group option overrides).
``step`` runs the closure, then for each parameter with a gradient negates it for
``maximize``, folds in an L2 ``weight_decay`` (unless the subclass decouples it)
and calls the subclass's ``_update``, which changes ``p.array`` in place; ``p``'s
version is then bumped so autograd's saved-tensor checks notice the write.
"""
import copy
import itertools
from collections import defaultdict

import numpy as np

from autograd.engine import clear_grads
from autograd.graph import increment_version
from autograd.grad_mode import enable_grad, no_grad
from autograd.creation import from_numpy
from autograd.tensor import Tensor


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def check_nonnegative(optimizer, **values):
    """Raise a clear error for a negative or NaN hyperparameter (lr, eps, momentum, ...)."""
    for key, value in values.items():
        if not value >= 0.0:
            raise ValueError(f"{optimizer}: invalid {key.replace('_', ' ')} value {value}, "
                             f"expected {key} >= 0")


def check_betas(optimizer, betas):
    """Raise a clear error unless each beta is in [0, 1)."""
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"{optimizer}: invalid beta parameter at index {i}: {b}, "
                             "expected 0 <= beta < 1")


def check_cpu_eager(optimizer, capturable=False, differentiable=False):
    """PyTorch's ``capturable`` (CUDA graphs) and ``differentiable`` (a step on the
    tape) have no counterpart here; refuse them rather than ignore them."""
    if capturable or differentiable:
        raise ValueError(f"{optimizer}: capturable=True and differentiable=True are not "
                         "supported (the step runs eagerly on CPU arrays, off the tape)")


def count_step(state, like, *buffers):
    """``state["step"] += 1``; on the first step create it, with zero arrays shaped like
    ``like`` under the names ``buffers``.  Returns the new step count."""
    if "step" not in state:
        state["step"] = 0.0
        for name in buffers:
            state[name] = np.zeros_like(like)
    state["step"] += 1
    return state["step"]


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)     # param -> its buffers, as PyTorch's
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params argument given to the optimizer should be "
                            "an iterable of Tensors or dicts, but got a single Tensor")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Add a group; options it leaves out take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but one of the "
                                f"params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor "
                                 f"(shape {p.shape}, produced by {p.grad_fn.name()})")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError("a parameter group holds the same parameter twice")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        clear_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    # Optimizers whose weight decay is not an L2 term in the gradient (AdamW).
    decoupled_weight_decay = False

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (re-evaluating the
        loss) runs first and its value is returned."""
        loss = self._closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                wd = 0 if self.decoupled_weight_decay else group.get("weight_decay", 0)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad.array
                    if group.get("maximize"):
                        grad = -grad
                    if wd != 0:
                        grad = grad + wd * p.array            # g <- g + weight_decay * p
                    self._update(p, grad, group, self.state.setdefault(p, {}))
                    self._bump(p)
        return loss

    @staticmethod
    def _closure_loss(closure):
        """The closure's loss, evaluated with grad enabled (None without a closure)."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _update(self, p, grad, group, state):
        """Change ``p.array`` in place from ``grad``; ``state`` is p's buffers."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update or step")

    @property
    def _array_state(self):
        """Whether p's buffers are NumPy arrays: so for the built-in optimizers (an
        ``_update`` on arrays); a subclass written PyTorch's way, with its own ``step``,
        keeps Tensors, and gets Tensors back from ``load_state_dict``."""
        return type(self)._update is not Optimizer._update

    # Records the in-place write to ``p.array`` (see module docstring); the engine's
    # function itself, so a step costs no extra call per parameter.
    _bump = staticmethod(increment_version)

    # -- state dicts ---------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: ndarray or number}}, "param_groups": [...]}``.

        Parameters are referred to by their position across all groups, as PyTorch
        does, so the dict can be loaded into an optimizer over a fresh model.
        """
        index = {}
        groups = []
        counter = itertools.count()
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                i = index.setdefault(id(p), next(counter))
                ids.append(i)
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    # State entries that are not shaped like their parameter (LBFGS's flat vectors).
    _unshaped_state = ()

    def _check_state_shapes(self, state, id_map):
        """Refuse, at load time, buffers shaped for another model's parameters."""
        name = type(self).__name__
        for key, buffers in state.items():
            p = id_map.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: the state dict has state for parameter "
                                 f"{key}, but its param_groups list no parameter {key}")
            for buf, v in buffers.items():
                shape = np.shape(v.array if isinstance(v, Tensor) else v)
                if len(shape) and buf not in self._unshaped_state and shape != tuple(p.shape):
                    raise ValueError(
                        f"{name}.load_state_dict: state '{buf}' of parameter {key} has shape "
                        f"{shape}, but that parameter of this optimizer has shape "
                        f"{tuple(p.shape)}; the state dict was saved for another model")

    def load_state_dict(self, state_dict):
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(groups)}")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"loaded state dict's parameter group {i} has "
                                 f"{len(sg['params'])} parameters, this optimizer's has "
                                 f"{len(g['params'])}")
        id_map = {int(old): p for g, sg in zip(groups, saved_groups)
                  for old, p in zip(sg["params"], g["params"])}
        self._check_state_shapes(state_dict["state"], id_map)
        self.state = defaultdict(dict)
        for key, buffers in state_dict["state"].items():
            p = id_map.get(int(key))
            if p is None:
                continue
            restored = {}
            for name, v in buffers.items():
                arr = v.array if isinstance(v, Tensor) else v
                if isinstance(arr, np.ndarray):
                    # buffers follow the param's dtype; copies, never the loaded memory
                    arr = arr.astype(p.dtype, copy=True) if arr.shape == p.shape else arr.copy()
                    v = arr if self._array_state else from_numpy(arr)
                restored[name] = v
            self.state[p] = restored
        new_groups = []
        for g, sg in zip(groups, saved_groups):
            ng = copy.deepcopy({k: v for k, v in sg.items() if k != "params"})
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.param_groups = new_groups
