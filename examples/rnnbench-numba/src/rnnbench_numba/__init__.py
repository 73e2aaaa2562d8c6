"""rnnbench-numba: an outside implementation for rnnbench, "numba-loops" (impl.NumbaLoops), registered
under the entry point group "rnnbench.impls". Importing this package imports nothing: rnnbench imports
rnnbench_numba.impl, and with it Numba, only when numba-loops is loaded."""

__version__ = "0.1.0"
