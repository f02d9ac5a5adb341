"""Scripts for the people who measure the library: benchmarks of kernels, layers,
threads, workers, the monitor and distributed steps, and the fit of erf's polynomials.
``tools/bench.py`` is their entry point beside PyTorch; the commands a user runs sit
one level up, in tools/."""
