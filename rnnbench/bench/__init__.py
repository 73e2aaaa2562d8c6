"""The benchmark: what `rnnbench bench` measures and how (see docs/DESIGN.md §6).

    profiles   how much to measure          workload   the synthetic batches (shared with the C baseline)
    points     point ids, the sweep, groups  shards     --shard K/N
    step       step and epoch points         bounds     the matmul peak and the C baseline
    accuracy   accuracy-per-second runs      noise      the speed sentinel and load average
    checks     answer checks                 memory     resident set and step memory
    worker     one process per group         plan       arguments -> worker specs
    executors  here, submitit local / SLURM  progress   finished points, from the run folder
    timing     honest timers                 c_baseline the single-thread plain-C baseline
    stopping   SIGINT and SIGTERM stop a run alike

Nothing here imports a framework at module level; the worker sets threads before one starts.
"""

from __future__ import annotations
