"""The sub-commands of `rnnbench`, one module each (`add_arguments(parser)` and `run(args)`: flags, calls,
printing), the value types of their flags (arguments), and what bench and merge both end a run with
(outputs)."""
