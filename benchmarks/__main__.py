"""`python -m benchmarks [--quick] [--only NAME ...] [--results DIR]`: run the benchmarks and write
RESULTS.md and the PNG plots (default: benchmarks/results/).

The default set takes about 10 minutes on 2 cores; --quick (about a minute) runs a small
version of each benchmark, for a quick look and for the smoke test.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from benchmarks import overhead, quality, report, utilization
from benchmarks import ask_cost
from benchmarks.problems import PROBLEMS, REPORT, TUNING

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("utilization", "quality", "overhead")
ASK_COST_TRIALS = 5000


def plans(quick: bool, problems=None, seeds: int = 20) -> dict:
    has_optuna = importlib.util.find_spec("optuna") is not None
    has_nevergrad = importlib.util.find_spec("nevergrad") is not None
    # ga-old: the defaults before issue 13 (classic operators); see benchmarks/methods.py
    methods = (["ga", "ga-async", "ga-old", "legacy", "random"]
               + (["tpe", "cmaes"] if has_optuna else []) + (["ngopt"] if has_nevergrad else []))
    if quick:
        return dict(
            quality=quality.QualityPlan(("branin", "mixed", "surrogate-IGTD-GDSCv2"),
                                        tuple(m for m in methods if m not in (
                                            "ga-async", "ngopt")), (40, 100), 3),
            ask_cost=(500,),
            utilization=dict(runs=("IGTD-GDSCv2",), workers=(8,), interval=0.01),
            overhead=dict(ranks=(4,), trials=(1000,), profile=None),
            has_optuna=has_optuna)
    return dict(
        quality=quality.QualityPlan(tuple(problems or (*TUNING, *REPORT)), tuple(methods),
                                    (40, 100, 300), seeds),
        ask_cost=(ASK_COST_TRIALS,),
        utilization=dict(runs=("IGTD-GDSCv2", "GraphDRP-CTRPv2"), workers=(8, 32, 64),
                         interval=0.01),
        overhead=dict(ranks=(4, 8), trials=(1000, 10000), profile=(8, 10000)),
        has_optuna=has_optuna)


def run_utilization(plan: dict, say) -> list[str]:
    replays = []
    for run in plan["runs"]:
        for workers in plan["workers"]:
            for strategy in utilization.STRATEGIES:
                replays.append(utilization.replay(run, strategy, workers, plan["interval"]))
                say(f"utilization: {replays[-1]}")
    waste = utilization.legacy_waste()
    checks = []
    for r in replays:
        if r.strategy == "async" and r.workers >= 32:
            checks.append((f"async utilization >= 0.95 ({r.run}, {r.workers} workers)",
                           r.utilization >= 0.95,
                           f"{r.utilization:.2f}; to the last dispatch "
                           f"{r.utilization_to_last_dispatch:.2f}"))
    utilization.plot(replays, waste, plan["results"] / "utilization.png")
    return report.utilization_section(replays, waste, checks)


def run_quality(plan: quality.QualityPlan, results: Path, has_optuna: bool, say,
                ask_trials=()) -> list[str]:
    curves = quality.run_quality(plan)
    say("quality: searches done")
    table = quality.summarize(curves, plan)
    won = quality.wins(curves, plan)
    reached = quality.reach(curves, plan)
    report_set = [name for name in plan.problems if name in REPORT]
    learning = quality.learning_targets(table, won, report_set)
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
    measured = []
    for ranks in plan["ranks"]:
        for trials in plan["trials"]:
            measured.append(overhead.measure(ranks, trials))
            say(f"overhead: {measured[-1]}")
    checks = []
    for r in measured:
        if r.ranks == max(plan["ranks"]):
            checks.append((f"<= 1 ms per evaluation at {r.ranks} ranks, {r.trials} trials",
                           r.wall_ms <= 1.0, f"{r.wall_ms:.2f} ms"))
        checks.append((f"rank 0 under 200 MB at {r.trials} trials, {r.ranks} ranks",
                       r.rank0_peak_rss_mb < 200, f"{r.rank0_peak_rss_mb:.0f} MB"))
    for ranks in plan["ranks"]:
        mine = sorted((r for r in measured if r.ranks == ranks), key=lambda r: r.trials)
        if len(mine) > 1:
            ratio = mine[-1].per_second / mine[0].per_second
            checks.append((f"evaluations/s flat from {mine[0].trials} to {mine[-1].trials} "
                           f"trials at {ranks} ranks (within 20%)", ratio >= 0.8,
                           f"{mine[0].per_second:.0f} -> {mine[-1].per_second:.0f}/s"))
    hot = overhead.hot_spots(*plan["profile"]) if plan["profile"] else []
    overhead.plot(measured, results / "overhead.png")
    return report.overhead_section(measured, checks, hot)


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
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    chosen = plans(args.quick, args.problems, args.seeds)

    def say(line):
        print(f"benchmarks: {line}", file=sys.stderr, flush=True)

    started = time.time()
    info = report.machine()
    sections = []
    if "utilization" in args.only:
        sections += run_utilization({**chosen["utilization"], "results": args.results}, say)
    if "quality" in args.only:
        sections += run_quality(chosen["quality"], args.results, chosen["has_optuna"], say,
                                chosen["ask_cost"])
    if "overhead" in args.only:
        sections += run_overhead(chosen["overhead"], args.results, say)
    lines = report.header(info, report.command_line(), time.time() - started) + sections
    report.write(args.results / "RESULTS.md", lines)
    say(f"wrote {args.results / 'RESULTS.md'} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
