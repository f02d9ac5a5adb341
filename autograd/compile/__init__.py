"""Compiled mode: ``autograd.compile``, torch.compile's contract (README, "Compiled mode").

- capture.py: the first call for a guard set runs eagerly and is recorded;
- plan.py: the recording as array code, and the one tape node that replays it;
- effects.py: random draws and buffer writes, which happen outside the tape;
- reads.py: tensor data read in NumPy during a capture, recorded as plan steps;
- passes.py: dead-code elimination over the plan;
- fusion.py: runs of elementwise steps as generated Numba kernels;
- codegen.py: the plan as readable Python (forward and backward);
- guards.py: when a call may reuse a trace;
- api.py: ``compile``, the compiled function and ``OptimizedModule``.
"""
from .api import CompileCheckError, CompiledFunction, OptimizedModule, compile
from .capture import GraphBreak

__all__ = ["compile", "CompiledFunction", "OptimizedModule", "GraphBreak", "CompileCheckError"]
