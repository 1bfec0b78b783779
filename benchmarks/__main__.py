"""`python -m benchmarks [--quick] [--only NAME ...] [--results DIR]`: run the benchmarks and write
RESULTS.md and the PNG plots (default: benchmarks/results/).

The default set takes about 10 minutes on 2 cores; --quick (about a minute) runs a small
version of each benchmark, for a quick look and for the smoke test.
"""

from __future__ import annotations

import argparse
import importlib.util
import pickle
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks import overhead, quality, report, utilization
from benchmarks import ask_cost
from benchmarks.methods import parse_method
from benchmarks.problems import PROBLEMS, REPORT, TUNING

RESULTS = Path(__file__).resolve().parent / "results"
RUNTIME = Path(__file__).resolve().parent.parent / ".." / "shared" / "runtime"  # make-image.sh
BENCHMARKS = ("utilization", "quality", "overhead")
ASK_COST_TRIALS = 5000


def plans(quick: bool, problems=None, seeds: int = 20, chosen_methods=None) -> dict:
    has_optuna = importlib.util.find_spec("optuna") is not None
    has_nevergrad = importlib.util.find_spec("nevergrad") is not None
    # ga-old: the defaults before issue 13 (classic operators); see benchmarks/methods.py
    methods = (["ga", "ga-gen", "ga-old", "legacy", "random"]
               + (["tpe", "cmaes"] if has_optuna else []) + (["ngopt"] if has_nevergrad else []))
    methods = list(chosen_methods or methods)
    if quick:
        return dict(
            quality=quality.QualityPlan(("branin", "mixed", "surrogate-IGTD-GDSCv2"),
                                        tuple(m for m in methods if m not in (
                                            "ga-gen", "ngopt")), (40, 100), 3),
            ask_cost=(500,),
            utilization=dict(runs=("IGTD-GDSCv2",), workers=(4,), legacy_workers=(4,),
                             deadline_workers=(4,), interval=0.02),
            overhead=dict(ranks=(4,), trials=(1000,), profile=None, workers=(2,),
                          subprocess_trials=40, rounds=1, container=False),
            has_optuna=has_optuna)
    return dict(
        quality=quality.QualityPlan(tuple(problems or (*TUNING, *REPORT)), tuple(methods),
                                    (40, 100, 300), seeds),
        ask_cost=(ASK_COST_TRIALS,),
        utilization=dict(runs=("IGTD-GDSCv2", "GraphDRP-CTRPv2"),
                         workers=(8, 32, 64, 128, 256), legacy_workers=(8, 64),
                         deadline_workers=(8, 64), interval=0.05),
        overhead=dict(ranks=(8,), trials=(1000, 10000, 100000), profile=(8, 10000),
                      workers=(2, 4, 8), subprocess_trials=200, rounds=3, container=True),
        has_optuna=has_optuna)


def run_utilization(plan: dict, say) -> list[str]:
    replays = []
    for run in plan["runs"]:
        for workers in plan["workers"]:
            for setting in ("legacy", "defaults"):
                if setting == "legacy" and workers not in plan["legacy_workers"]:
                    continue  # the barrier's makespan grows with the workers: a reference only
                replays.append(utilization.replay(run, setting, workers, plan["interval"]))
                say(f"utilization: {replays[-1]}")
        for workers in plan["deadline_workers"]:
            replays.append(utilization.replay(run, "deadline", workers, plan["interval"]))
            say(f"utilization: {replays[-1]}")
    checks = []
    for r in replays:
        if r.setting == "defaults":
            checks.append((f"defaults: utilization >= 0.9 of the greedy schedule's ({r.run}, "
                           f"{r.workers} workers)", r.of_greedy >= 0.9,
                           f"{r.utilization:.3f} / {r.greedy_utilization:.3f} = "
                           f"{r.of_greedy:.3f}"))
        if r.setting == "deadline" and r.workers == 64:
            checks.append((f"walltime budget: utilization >= 0.97 up to the deadline ({r.run}, "
                           "64 workers)", r.utilization >= 0.97, f"{r.utilization:.3f}"))
    utilization.plot(replays, plan["results"] / "utilization.png")
    return report.utilization_section(replays, utilization.legacy_waste(), checks,
                                      plan["interval"])


def run_quality(plan: quality.QualityPlan, results: Path, has_optuna: bool, say,
                ask_trials=(), save=None, added=(), processes=None) -> list[str]:
    started = time.time()
    curves = quality.run_quality(plan, processes)
    say(f"quality: searches done in {time.time() - started:.0f} s")
    if save:
        quality.save_curves(save, curves, plan, time.time() - started)
    for path in added:  # curves of other methods from an earlier run (--add-curves)
        more, seconds = quality.load_curves(path, plan)
        methods = [m for m in next(iter(more.values()), {}) if m not in plan.methods]
        plan = replace(plan, methods=plan.methods + tuple(methods))
        curves = quality.merge_curves(curves, more, plan.methods)
        say(f"quality: added {', '.join(methods)} from {path} (a run of {seconds:.0f} s)")
    table = quality.summarize(curves, plan)
    won = quality.wins(curves, plan)
    reached = quality.reach(curves, plan)
    report_set = [name for name in plan.problems if name in REPORT]
    intervals = quality.win_intervals(curves, plan, "tpe")
    learning = quality.learning_targets(table, won, report_set, intervals=intervals)
    costs = [ask_cost.measure(trials, strategy) for trials in ask_trials
             for strategy in ("generational", "async")]
    learning += [(f"engine cost per ask < 50 ms at {c.trials} trials with model-guided "
                  f"breeding ({c.strategy})", c.last_tenth_ms < 50.0,
                  f"{c.last_tenth_ms:.2f} ms") for c in costs]
    checks = {"ga": quality.check_targets(table, "ga", max(plan.budgets))}
    quality.plot(curves, results / "quality.png")
    sets = {**dict.fromkeys(TUNING, "tuning"), **dict.fromkeys(REPORT, "report")}
    lines = report.quality_section(table, checks, plan, won, reached, learning, costs, sets)
    if not has_optuna:
        lines.insert(2, "Optuna is not installed: the TPE column is missing "
                        "(pip install 'improve-hpo[bench]').\n")
    say("quality: done")
    return lines


def run_overhead(plan: dict, results: Path, say) -> list[str]:
    sandbox = None
    with tempfile.TemporaryDirectory(prefix="improve-hpo-sandbox-") as folder:
        if plan["container"]:
            sandbox = overhead.make_sandbox(Path(folder) / "sandbox", RUNTIME)
            if sandbox is None:
                say(f"overhead: no Singularity sandbox ({RUNTIME}/make-image.sh failed): "
                    "the container figure is left out")
        costs = overhead.trial_cost(plan["workers"], plan["subprocess_trials"], plan["rounds"],
                                    sandbox, say)
    measured = []
    for ranks in plan["ranks"]:
        for trials in plan["trials"]:
            measured.append(overhead.measure(ranks, trials))
            say(f"overhead: {measured[-1]}")
    checks = []
    top = max(plan["workers"])
    cost = {c.engine: c.ms for c in costs if c.workers == top}
    for engine in ("improve-hpo (MPI)", "improve-hpo --workers"):
        if "bare process pool" in cost:
            checks.append((f"{engine}: per-trial cost at {top} workers <= 1.5x the bare "
                           "process pool's", cost[engine] <= 1.5 * cost["bare process pool"],
                           f"{cost[engine]:.1f} vs 1.5 x {cost['bare process pool']:.1f} ms"))
        if "DeepHyper random" in cost:
            checks.append((f"{engine}: per-trial cost at {top} workers below DeepHyper random's",
                           cost[engine] < cost["DeepHyper random"],
                           f"{cost[engine]:.1f} vs {cost['DeepHyper random']:.1f} ms"))
    for r in measured:
        checks.append((f"rank 0 under 200 MB at {r.trials} trials, {r.ranks} ranks",
                       r.rank0_peak_rss_mb < 200, f"{r.rank0_peak_rss_mb:.0f} MB"))
    for ranks in plan["ranks"]:
        mine = sorted((r for r in measured if r.ranks == ranks), key=lambda r: r.trials)
        if len(mine) > 1:
            ratio = mine[-1].rank0_cpu_ms / mine[0].rank0_cpu_ms
            checks.append((f"rank 0's CPU per trial flat from {mine[0].trials} to "
                           f"{mine[-1].trials} trials at {ranks} ranks (within 25%)",
                           ratio <= 1.25, f"{mine[0].rank0_cpu_ms:.2f} -> "
                           f"{mine[-1].rank0_cpu_ms:.2f} ms"))
    hot = overhead.hot_spots(*plan["profile"]) if plan["profile"] else []
    overhead.plot(costs, measured, results / "overhead.png")
    return report.overhead_section(costs, measured, checks, hot)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small versions (about a minute)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS),
                        help="run only these benchmarks (default: all)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder for RESULTS.md and the plots (default: %(default)s)")
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS, default=None,
                        help="search quality: these problems only (default: the tuning and "
                             "the report set)")
    parser.add_argument("--seeds", type=int, default=20,
                        help="search quality: seeds per problem and method (default: 20)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="search quality: these methods only (names of "
                             "benchmarks/methods.py; default: all that are installed)")
    parser.add_argument("--save-curves", type=Path, default=None, metavar="FILE",
                        help="search quality: keep this run's curves in FILE (a pickle)")
    parser.add_argument("--add-curves", type=Path, nargs="+", default=(), metavar="FILE",
                        help="search quality: report, beside this run's methods, the other "
                             "methods of earlier runs saved with --save-curves (same problems, "
                             "seeds and budgets), without running them again")
    parser.add_argument("--processes", type=int, default=None,
                        help="search quality: processes in the pool (default: one per core)")
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    for method in args.methods or ():
        try:
            parse_method(method)
        except ValueError as error:
            parser.error(f"--methods: {error}")
    chosen = plans(args.quick, args.problems, args.seeds, args.methods)
    for path in args.add_curves:
        if not path.is_file():
            parser.error(f"--add-curves: {path} is not a file (write one with --save-curves)")
        try:
            quality.load_curves(path, chosen["quality"])
        except (ValueError, OSError, pickle.UnpicklingError, KeyError, EOFError) as error:
            parser.error(f"--add-curves: {error}")

    def say(line):
        print(f"benchmarks: {line}", file=sys.stderr, flush=True)

    started = time.time()
    info = report.machine()
    sections = []
    if "utilization" in args.only:
        sections += run_utilization({**chosen["utilization"], "results": args.results}, say)
    if "quality" in args.only:
        sections += run_quality(chosen["quality"], args.results, chosen["has_optuna"], say,
                                chosen["ask_cost"], args.save_curves, args.add_curves,
                                args.processes)
    if "overhead" in args.only:
        sections += run_overhead(chosen["overhead"], args.results, say)
    # The multi-fidelity section is measured on its own (python -m benchmarks.fidelity, about
    # 30 minutes): its last results are kept in RESULTS.md when the others are regenerated.
    fidelity = args.results / "fidelity.md"
    if fidelity.exists():
        sections += ["", *fidelity.read_text(encoding="utf-8").splitlines()]
    lines = report.header(info, report.command_line(), time.time() - started) + sections
    report.write(args.results / "RESULTS.md", lines)
    say(f"wrote {args.results / 'RESULTS.md'} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
