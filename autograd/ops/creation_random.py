"""Random numbers inside vmap: ``randomness="error" | "different" | "same"`` (PyTorch's).

Every random draw in tapegrad (rand, randn, dropout's masks, init, ...) comes from
``creation.default_generator()``.  While a vmap level is open, `VmapGenerator` stands
there:
- ``"error"``: a draw raises, as in PyTorch;
- ``"same"``: draws pass through, for the logical (one-sample) shape, so every sample
  sees the same numbers;
- ``"different"``: each sample needs its own numbers, but a draw is made for the one
  sample the Python code describes.  So the first draw stops the batched run, and vmap
  runs the function once per sample instead (`PerSampleRedraw`, caught in vmap.py),
  with a one-time warning: correct for any draw, and as slow as a loop.
"""
import warnings

from .. import creation


class PerSampleRedraw(Exception):
    """Raised at the first draw of a ``randomness="different"`` level larger than 1."""

    def __init__(self, level):
        super().__init__("vmap(randomness='different'): a random draw inside the batch")
        self.level = level


class VmapGenerator:
    """Stands for the global generator while vmap levels are open (module docstring)."""

    def __init__(self, real, levels):
        self.real, self.levels = real, levels

    def __getattr__(self, name):
        method = getattr(self.real, name)
        if not callable(method) or name in ("bit_generator", "spawn"):
            return method

        def draw(*args, **kwargs):
            for level in self.levels:
                if level.randomness == "error":
                    raise RuntimeError(
                        "vmap: called random operation while in randomness error mode. Please "
                        "either use the 'same' or 'different' randomness flags on vmap or "
                        "perform the randomness operation out of vmap")
                if level.randomness == "different" and level.size > 1:
                    raise PerSampleRedraw(level)
            return method(*args, **kwargs)
        return draw


class under_vmap:
    """``with under_vmap(level):`` installs `VmapGenerator` for the open levels."""

    def __init__(self, level):
        self.level = level

    def __enter__(self):
        self.saved = creation._generator
        if isinstance(self.saved, VmapGenerator):
            self.installed = VmapGenerator(self.saved.real, self.saved.levels + [self.level])
        else:
            self.installed = VmapGenerator(self.saved, [self.level])
        creation._generator = self.installed

    def __exit__(self, *exc):
        if creation._generator is self.installed:   # else manual_seed ran inside: keep its
            creation._generator = self.saved


_warned = []


def warn_per_sample(func_name, size):
    if not _warned:
        _warned.append(True)
        warnings.warn(f"vmap({func_name}, randomness='different'): the function draws random "
                      f"numbers, so it runs once per sample (a loop of {size}) to give each "
                      "sample its own", stacklevel=4)
