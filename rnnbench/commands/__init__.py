"""The sub-commands of `rnnbench`, one module each (`add_arguments(parser)` and `run(args)`), and the
value types of their flags (arguments)."""
