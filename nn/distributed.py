"""The process group: ``torch.distributed``'s names over MPI's ``COMM_WORLD``.

    import nn.distributed as dist
    dist.init_process_group()            # under `mpiexec -n K python script.py`
    dist.get_rank(), dist.get_world_size()
    dist.all_reduce(t)                   # in place, summed over the ranks (op=dist.ReduceOp.AVG ...)

This is the only module of tapegrad that imports ``mpi4py`` (when the group is
initialised, so importing it needs no MPI).  Every collective takes a Tensor or a
NumPy array and works in place on its memory, as PyTorch's do on tensors.  After
``init_process_group`` an uncaught exception on any rank prints that rank's
traceback and aborts every rank (``MPI.COMM_WORLD.Abort``), so a failing rank never
leaves the others waiting in a collective.
"""
import sys
import traceback

import numpy as np

from autograd.tensor import Tensor

INSTALL_HINT = "pip install 'tapegrad[distributed]'   (mpi4py, and the mpich wheel that ships mpiexec)"
LAUNCH_HINT = "mpiexec -n 2 python -m tools.train --distributed ...   (or: mpiexec -n 2 python your_script.py)"

_comm = None


class ReduceOp:
    """PyTorch's reduction names (``dist.ReduceOp.SUM`` ...)."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


def is_available():
    """Whether mpi4py can be imported (``pip install 'tapegrad[distributed]'``)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_initialized():
    return _comm is not None


def init_process_group(backend="mpi"):
    """Join the group of all processes started by ``mpiexec`` (``MPI.COMM_WORLD``).

    Raises ``RuntimeError`` with the install command when mpi4py is missing, and with
    the launch command when the process was not started by an MPI launcher."""
    global _comm
    if backend not in (None, "mpi"):
        raise ValueError(f"init_process_group: tapegrad's only backend is 'mpi', got {backend!r}")
    if _comm is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized")
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(f"distributed training needs mpi4py, which is not installed ({e}).\n"
                           f"  install:  {INSTALL_HINT}\n  launch:   {LAUNCH_HINT}") from None
    # MPI defines the MPI_APPNUM attribute only for processes started by mpiexec.
    if MPI.COMM_WORLD.Get_attr(MPI.APPNUM) is None:
        raise RuntimeError("init_process_group: this process was not started by an MPI launcher, "
                           "so it has no group to join.\n"
                           f"  launch:   {LAUNCH_HINT}\n  install:  {INSTALL_HINT}")
    _comm = MPI.COMM_WORLD
    _install_abort_hook()


def destroy_process_group():
    """Leave the group (MPI itself is finalised by mpi4py at exit)."""
    global _comm
    _check("destroy_process_group")
    _comm = None


def get_rank():
    return _check("get_rank").Get_rank()


def get_world_size():
    return _check("get_world_size").Get_size()


def barrier():
    _check("barrier").Barrier()


def abort(message, errorcode=1):
    """Print ``message`` (prefixed with this rank) and end every rank of the group."""
    comm = _check("abort")
    sys.stdout.flush()
    sys.stderr.write(f"[rank {comm.Get_rank()}] {message.rstrip()}\n")
    sys.stderr.flush()
    comm.Abort(errorcode)


class Work:
    """A pending non-blocking collective (``async_op=True``); ``wait()`` completes it."""

    def __init__(self, request, finish=None):
        self._request, self._finish = request, finish

    def is_completed(self):
        return self._request is None or bool(self._request.Test())

    def wait(self):
        if self._request is not None:
            self._request.Wait()
            self._request = None
            if self._finish is not None:
                self._finish()
        return True


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Reduce ``tensor`` (a Tensor or array) over all ranks, in place."""
    comm = _check("all_reduce")
    from mpi4py import MPI
    ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
           ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}
    if op not in ops:
        raise ValueError(f"all_reduce: unknown op {op!r}; expected one of {sorted(ops)}")
    target = _array("all_reduce", tensor)
    if op == ReduceOp.AVG and target.dtype.kind != "f":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got {target.dtype}")
    buf = _contiguous(target)

    def finish():
        if op == ReduceOp.AVG:
            buf[...] /= comm.Get_size()
        if buf is not target:
            target[...] = buf
    if async_op:
        return Work(comm.Iallreduce(MPI.IN_PLACE, buf, op=ops[op]), finish)
    comm.Allreduce(MPI.IN_PLACE, buf, op=ops[op])
    finish()
    return None


def broadcast(tensor, src=0, async_op=False):
    """Overwrite ``tensor`` (a Tensor or array) on every rank with rank ``src``'s."""
    comm = _check("broadcast")
    _check_rank("broadcast", "src", src, comm)
    target = _array("broadcast", tensor)
    buf = _contiguous(target)

    def finish():
        if buf is not target:
            target[...] = buf
    if async_op:
        return Work(comm.Ibcast(buf, root=src), finish)
    comm.Bcast(buf, root=src)
    finish()
    return None


def all_gather(tensor_list, tensor, async_op=False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (all of the same shape and dtype)."""
    comm = _check("all_gather")
    size = comm.Get_size()
    if len(tensor_list) != size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} entries; the world size is {size}")
    send = np.ascontiguousarray(_array("all_gather", tensor))
    outs = [_array("all_gather", t) for t in tensor_list]
    for r, out in enumerate(outs):
        if out.shape != send.shape or out.dtype != send.dtype:
            raise ValueError(f"all_gather: tensor_list[{r}] has shape {out.shape} and dtype {out.dtype}; "
                             f"the tensor to gather has shape {send.shape} and dtype {send.dtype}")
    recv = np.empty((size,) + send.shape, send.dtype)

    def finish():
        for out, part in zip(outs, recv):
            out[...] = part
    if async_op:
        return Work(comm.Iallgather(send, recv), finish)
    comm.Allgather(send, recv)
    finish()
    return None


def broadcast_coalesced(tensors, src=0):
    """Overwrite ``tensors`` (Tensors or arrays) with rank ``src``'s, one broadcast per
    dtype (the order of ``tensors`` must be the same on every rank)."""
    by_dtype = {}
    for a in (_array("broadcast_coalesced", t) for t in tensors):
        by_dtype.setdefault(a.dtype, []).append(a)
    for dtype in sorted(by_dtype, key=str):
        group = by_dtype[dtype]
        flat = np.concatenate([a.reshape(-1) for a in group])
        broadcast(flat, src=src)
        offset = 0
        for a in group:
            a[...] = flat[offset:offset + a.size].reshape(a.shape)
            offset += a.size


def all_gather_object(object_list, obj):
    """Fill ``object_list[r]`` with rank r's picklable ``obj`` (small metadata, not tensors)."""
    comm = _check("all_gather_object")
    if len(object_list) != comm.Get_size():
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} entries; the "
                         f"world size is {comm.Get_size()}")
    object_list[:] = comm.allgather(obj)


# -- helpers ---------------------------------------------------------------------------
def _check(who):
    if _comm is None:
        raise RuntimeError(f"{who}: the default process group has not been initialized; call "
                           "nn.distributed.init_process_group() first (in a process started by "
                           f"mpiexec: {LAUNCH_HINT})")
    return _comm


def _check_rank(who, name, rank, comm):
    if not isinstance(rank, (int, np.integer)) or not 0 <= rank < comm.Get_size():
        raise ValueError(f"{who}: {name}={rank!r} is not a rank of this group (0..{comm.Get_size() - 1})")


def _array(who, x):
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{who}: expected a Tensor or a NumPy array, got {type(x).__name__}")


def _contiguous(a):
    """``a`` itself when MPI can use its memory directly, else a contiguous copy."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _install_abort_hook():
    previous = sys.excepthook

    def hook(kind, value, tb):
        if _comm is None:
            return previous(kind, value, tb)
        abort("".join(traceback.format_exception(kind, value, tb)))
    sys.excepthook = hook
