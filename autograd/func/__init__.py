"""``autograd.func``: PyTorch's ``torch.func`` (through the alias): composable function
transforms (transforms.py), vmap (ops/vmap.py, below the functional API that also uses
it), and running modules with given parameters (module_state.py)."""
from ..ops.vmap import vmap
from .module_state import functional_call, stack_module_state
from .transforms import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, vjp

__all__ = ["vmap", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
           "functional_call", "stack_module_state"]
