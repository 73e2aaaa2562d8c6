"""The conformance suite as a product: one list of cases (cases.CASES) that tests/test_conformance.py runs
under pytest and `rnnbench check NAME` runs without it (runner), the tolerances they hold to, and the
records of passed checks that `rnnbench bench` gates outside implementations on (verdicts).
See docs/DESIGN.md §5 and §9. Importing it imports NumPy only."""
