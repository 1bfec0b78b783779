"""improve-hpo's benchmarks: search quality, worker utilization and engine overhead.

Run them with `python -m benchmarks` (the default set) or `python -m benchmarks --quick`; see
docs/benchmarks.md. Each module has one job:

- problems.py: the test problems (spaces in improve-hpo's format and in-process objectives)
- halloffame.py: the real IMPROVE HPO runs in ../shared/compat/halloffame (walltimes, results)
- legacy_ga.py: a faithful re-creation of the CANDLE Supervisor GA (the baseline it replaces)
- methods.py: one search (a method on a problem with a seed) -> best value after each training
- quality.py: search quality at equal budgets (section 2 of the results)
- engine_run.py: one run of the real engine under mpiexec with simulated trials
- utilization.py: real walltimes replayed through the engine (section 1)
- overhead.py: 10,000 no-op evaluations through the engine (section 3)
- report.py: machine and versions, statistics, RESULTS.md
"""
