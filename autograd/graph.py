"""``torch.autograd.graph``'s engine calls for code that writes tensors behind autograd's back.

nn and optim change parameters, buffers and gradients through ``Tensor.array`` (no op,
no tape entry).  ``increment_version`` tells autograd about such a write, so a node
that saved the tensor for backward refuses to use the stale value, as in PyTorch.
"""


def increment_version(tensor):
    """Record an in-place write to ``tensor``'s memory made outside autograd's ops."""
    tensor._version.value += 1
