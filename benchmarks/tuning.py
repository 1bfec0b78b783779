"""How the GA's defaults are chosen: variants of the GA on the TUNING problems only (never on the
REPORT set), short runs, compared by median regret at 40, 100 and 300 trainings and by the
share of seed pairs won against a reference method.

    nice -n 10 .venv/bin/python -m benchmarks.tuning --seeds 10 \\
        --variant base=ga --variant tau03=ga:TAU=0.3 --variant k1=ga[candidates=1]

A variant is NAME=METHOD[:CONSTANT=VALUE,...]: a method of benchmarks/methods.py, and
optionally constants of improve_hpo/ga/adaptive.py, improve_hpo/ga/gp.py or
improve_hpo/ga/surrogate.py set in the worker process (how the defaults there were tried
before being written down).
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import sys
from pathlib import Path

import numpy as np

from benchmarks.methods import search
from benchmarks.problems import TUNING, problem
from benchmarks.quality import pair_wins, regrets

BUDGETS = (40, 100, 300)


def parse_variant(text: str) -> tuple[str, str, dict]:
    name, _, rest = text.partition("=")
    method, _, constants = rest.partition(":")
    overrides = {}
    for item in filter(None, constants.split(",")):
        key, _, value = item.partition("=")
        overrides[key] = float(value)
    return name, method, overrides


_DEFAULTS: dict = {}  # (module, constant) -> the value it had at import, in this process


def _apply(overrides: dict) -> None:
    """Set the variant's constants, after restoring every constant an earlier job of this pool
    process changed (a pool process runs jobs of several variants)."""
    from improve_hpo.ga import adaptive, gp, surrogate

    for (module, key), value in _DEFAULTS.items():
        setattr(module, key, value)
    for key, value in overrides.items():
        module = next((m for m in (adaptive, gp) if hasattr(m, key)), surrogate)
        if not hasattr(module, key):
            raise KeyError(f"unknown constant {key}")
        _DEFAULTS.setdefault((module, key), getattr(module, key))
        setattr(module, key, type(getattr(module, key))(value))


def _run(job):
    name, method, overrides, problem_name, budget, seed = job
    _apply(overrides)
    return job, search(method, problem_name, budget, seed)


def _saved_reference(path: Path | None, method: str, budget: int) -> dict:
    """{problem: {seed: curve}} of `method` from a --reference-curves file ({} if none fits)."""
    if path is None or not path.exists():
        return {}
    saved = pickle.loads(path.read_bytes())
    if saved["method"] != method or saved["budget"] != budget:
        return {}
    return saved["curves"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tuning", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--reference", default="ga-old", help="method the wins count against")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first-seed .. first-seed + seeds - 1 (fresh seeds to check "
                             "a choice made on others)")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--problems", nargs="+", default=list(TUNING))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--reference-curves", type=Path, metavar="FILE",
                        help="keep the reference method's curves in FILE: read them from it "
                             "when it holds every problem and seed asked for, else run them "
                             "and write it (a peer such as tpe costs minutes per run)")
    parser.add_argument("--versus", action="append", default=[], metavar="VARIANT",
                        help="also count each variant's wins against this variant of the run "
                             "(e.g. the current default), from the same curves")
    parser.add_argument("--save-curves", type=Path, metavar="FILE",
                        help="write every curve of the run (pickle) to FILE")
    args = parser.parse_args(argv)
    for problem_name in args.problems:
        if problem_name not in TUNING:
            parser.error(f"{problem_name} is not a tuning problem: defaults are chosen on "
                         f"{', '.join(TUNING)} only")
    variants = [parse_variant(text) for text in args.variant]
    for name in args.versus:
        if name not in [variant[0] for variant in variants]:
            parser.error(f"--versus {name}: not a variant of this run "
                         f"({', '.join(variant[0] for variant in variants)})")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    curves: dict = {}
    saved = _saved_reference(args.reference_curves, args.reference, args.budget)
    if all(seed in saved.get(p, {}) for p in args.problems for seed in seeds):
        for p in args.problems:
            curves[("REF", p)] = saved[p]
    else:
        variants.append(("REF", args.reference, {}))
    jobs = [(name, method, overrides, p, args.budget, seed) for name, method, overrides in variants
            for p in args.problems for seed in seeds]
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        for (name, _, _, p, _, seed), curve in pool.imap_unordered(_run, jobs):
            curves.setdefault((name, p), {})[seed] = curve
    if args.reference_curves is not None and variants[-1][0] == "REF":
        for p in args.problems:
            saved.setdefault(p, {}).update(curves[("REF", p)])
        args.reference_curves.write_bytes(pickle.dumps(
            {"method": args.reference, "budget": args.budget, "curves": saved}))
    if variants[-1][0] != "REF":
        variants.append(("REF", args.reference, {}))

    budgets = [b for b in BUDGETS if b <= args.budget]

    def final(name, p, budget):
        """The best value after `budget` trainings of each seed's run."""
        return np.array([curves[(name, p)][s][budget - 1] for s in seeds])

    names = [name for name, _, _ in variants]
    for reference in ["REF", *args.versus]:
        shown = args.reference if reference == "REF" else reference
        _print_wins(names, reference, shown, args.problems, budgets, final)
    if args.save_curves is not None:
        args.save_curves.write_bytes(pickle.dumps({"seeds": list(seeds), "curves": curves}))
    sys.stdout.flush()
    return 0


def _mixed_space(problem_name: str) -> bool:
    """Whether a problem's space has a categorical or logical parameter (the tables and the
    mixed problems; not the test functions and the real-run surrogates)."""
    return any(p["type"] in ("categorical", "logical") for p in problem(problem_name).space_json)


def _print_wins(names, reference, shown, problems, budgets, final) -> None:
    """Each variant's median regret and share of seed pairs won against `reference`, per
    problem and budget; the means over all problems and over the mixed-space ones; and on how
    many problems it meets issue 13's rule against `reference` (a median at most the
    reference's and at least half of the seed pairs won: with `--reference tpe --budget 100`,
    the report's 40- and 100-training targets read on the tuning set)."""
    print(f"median regret (wins vs {shown} in seed pairs)")
    print("variant".ljust(14) + "".join(f"{p[:14]:>16}" * len(budgets) for p in problems))
    mixed = [p for p in problems if _mixed_space(p)]
    means, met = {}, {}
    for name in names:
        cells, won = [], {p: np.zeros(len(budgets)) for p in problems}
        met[name] = np.zeros(len(budgets), dtype=int)
        for p in problems:
            for i, budget in enumerate(budgets):
                a, b = regrets(p, final(name, p, budget)), regrets(p, final(reference, p, budget))
                won[p][i] = pair_wins(a, b)
                met[name][i] += bool(np.median(a) <= np.median(b) and won[p][i] >= 0.5)
                cells.append(f"{np.median(a):9.2e} {won[p][i]:4.0%} ")
        print(name.ljust(14) + "".join(f"{c:>16}" for c in cells))
        means[name] = (np.mean([won[p] for p in problems], axis=0),
                       np.mean([won[p] for p in mixed], axis=0) if mixed else None)
    print(f"mean seed pairs won vs {shown} at " + " / ".join(map(str, budgets))
          + f": all {len(problems)} problems; the {len(mixed)} mixed-space ones")
    for name, (every, among_mixed) in means.items():
        line = name.ljust(14) + " / ".join(f"{w:4.0%}" for w in every)
        if among_mixed is not None:
            line += "   mixed: " + " / ".join(f"{w:4.0%}" for w in among_mixed)
        print(line)
    print(f"problems where the median is at most {shown}'s and at least half of the seed pairs "
          f"are won, at " + " / ".join(map(str, budgets)))
    for name in names:
        print(name.ljust(14) + " / ".join(f"{count:2d} of {len(problems)}"
                                          for count in met[name]))


if __name__ == "__main__":
    raise SystemExit(main())
