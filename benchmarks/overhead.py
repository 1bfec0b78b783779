"""Engine overhead, two parts.

1. Per-trial cost on the real path (`trial_cost`): every engine runs the same trivial train.sh
   (a /bin/sh script that prints its last argument as IMPROVE_RESULT) as a subprocess, N random
   trials of one float, W workers, side by side in one run, rounds interleaved:
     - improve-hpo under mpiexec (W + 1 ranks), native launch (--model-dir);
     - improve-hpo --workers W (local worker processes, no MPI);
     - improve-hpo under mpiexec with the real container runtime (--sif on a Singularity
       sandbox that holds the same scripts), when a runtime and a sandbox are given;
     - a bare process pool (concurrent.futures.ProcessPoolExecutor, subprocess.run);
     - Optuna's random search (RandomSampler, n_jobs=W threads) and DeepHyper's random search
       (thread evaluator, W workers), each running the script with subprocess.run, when
       installed (the `bench` extra).
   The cost per trial is W x (last trial end - first trial start) / N in worker-milliseconds:
   the time a worker spends per trial, the script's own run included (the same for every
   engine), start-up excluded. Each engine stamps its trials' start and end where it runs them
   (improve-hpo: its ledger).

   CPU per trial, all processes: `cpu_cost` ((CPU of 2N trials - CPU of N) / N, from
   getrusage) and `window_cost` (perf samples while the trials run only: steadier on shared
   cores, where every rank's start-up varies).

2. Rank 0's cost at scale (`measure`): no-op trials (benchmarks/engine_run.py: a Python
   function through improve_hpo.optimize) through the whole engine under mpiexec; evaluations
   per second, rank 0's CPU time per trial and its peak RSS, from 1,000 to 100,000 trials.
"""

from __future__ import annotations

import json
import os
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks.utilization import run_engine

REPO = Path(__file__).resolve().parent.parent
TRAIN_SH = "#!/bin/sh\nfor last; do :; done\nprintf 'IMPROVE_RESULT val_loss:\\t%s\\n' \"$last\"\n"
NOOP_SH = "#!/bin/sh\nexit 0\n"
SPACE = [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0}]


# -- 1. per-trial cost on the real path --------------------------------------------------------
def make_model(folder: Path) -> Path:
    """A model folder whose scripts do nothing but print the metric."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("train.sh", TRAIN_SH), ("preprocess.sh", NOOP_SH), ("infer.sh", NOOP_SH)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


def make_sandbox(folder: Path, runtime_dir: Path) -> Path | None:
    """A Singularity sandbox (../shared/runtime/make-image.sh) with the model's scripts in
    /usr/local/bin; None when it cannot be made (not root, no tarball)."""
    script = runtime_dir / "make-image.sh"
    if not script.exists():
        return None
    made = subprocess.run(["bash", str(script), str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        return None
    make_model(folder / "usr" / "local" / "bin")
    return folder


def _ledger_times(out: Path) -> list[tuple[float, float]]:
    with sqlite3.connect(out / "ledger.sqlite") as db:
        return db.execute('SELECT start, "end" FROM trials WHERE status = \'ok\' '
                          'AND reused_from IS NULL').fetchall()


def run_improve_hpo(model: Path, trials: int, workers: int, launch: str,
                    sandbox: Path | None = None, runtime: str | None = None,
                    source: Path | None = None) -> list:
    """improve-hpo on the trivial model; launch: "mpi" or "workers"; `source`: run the
    improve_hpo package of that source tree instead (another commit, for a before/after)."""
    with tempfile.TemporaryDirectory(prefix="improve-hpo-overhead-") as folder:
        folder = Path(folder)
        space = folder / "space.json"
        space.write_text(json.dumps(SPACE))
        (folder / "data").mkdir()
        target = (["--sif", str(sandbox), "--container-runtime", runtime] if sandbox
                  else ["--model-dir", str(model)])
        argv = [sys.executable, "-m", "improve_hpo", "run", "--space", str(space),
                "--output", str(folder / "out"), "--data-dir", str(folder / "data"),
                "--algorithm", "random", "--population", str(trials), "--generations", "0",
                "--infer", "none", *target]
        if launch == "mpi":
            argv = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(workers + 1), *argv]
        else:
            argv += ["--workers", str(workers)]
        env = None if source is None else {**os.environ, "PYTHONPATH": str(source)}
        done = subprocess.run(argv, capture_output=True, text=True, cwd=folder, timeout=900,
                              env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr[-2000:]}")
        return _ledger_times(folder / "out")


def _script_trial(train: list[str], x: float, folder: str) -> tuple[float, float, float]:
    """What a user's objective does: run train.sh (argv `train`), read the metric from its
    output."""
    start = time.time()
    done = subprocess.run([*train, "-1", folder, "--output_dir", folder, "--x", repr(x)],
                          capture_output=True, text=True, cwd=folder)
    value = float(done.stdout.rsplit("\t", 1)[1])
    return start, time.time(), value


def run_bare_pool(model: Path, trials: int, workers: int, sandbox: Path | None = None) -> list:
    """train.sh by subprocess.run in a ProcessPoolExecutor; with a sandbox, through
    `singularity exec SANDBOX train.sh`."""
    import random

    rng = random.Random(0)
    train = ([runtime_program(), "exec", str(sandbox), "train.sh"] if sandbox
             else [str(model / "train.sh")])
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(workers) as pool:
        list(pool.map(abs, range(workers)))  # start the workers before the clock
        futures = [pool.submit(_script_trial, train, rng.random(), folder)
                   for _ in range(trials)]
        return [f.result()[:2] for f in futures]


def run_optuna(model: Path, trials: int, workers: int) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    times = []
    with tempfile.TemporaryDirectory() as folder:
        def objective(trial):
            start, end, value = _script_trial([str(model / "train.sh")],
                                              trial.suggest_float("x", 0.0, 1.0), folder)
            times.append((start, end))
            return value

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(objective, n_trials=trials, n_jobs=workers)
    return times


def run_deephyper(model: Path, trials: int, workers: int) -> list:
    from deephyper.evaluator import Evaluator
    from deephyper.hpo import HpProblem, RandomSearch

    problem = HpProblem()
    problem.add_hyperparameter((0.0, 1.0), "x")
    times = []
    with tempfile.TemporaryDirectory() as folder:
        def run(job):
            start, end, value = _script_trial([str(model / "train.sh")],
                                              job.parameters["x"], folder)
            times.append((start, end))
            return -value

        evaluator = Evaluator.create(run, method="thread",
                                     method_kwargs={"num_workers": workers})
        RandomSearch(problem, random_state=0, log_dir=folder, verbose=0,
                     checkpoint_history_to_csv=False).search(evaluator, max_evals=trials)
    return times


def available_engines(sandbox: Path | None, baseline: Path | None = None) -> dict:
    """name -> function(model, trials, workers) -> [(start, end)], of what is installed; with
    `baseline` (a source tree of another commit), improve-hpo from there too."""
    import importlib.util

    engines = {
        "improve-hpo (MPI)": lambda m, n, w: run_improve_hpo(m, n, w, "mpi"),
        "improve-hpo --workers": lambda m, n, w: run_improve_hpo(m, n, w, "workers"),
        "bare process pool": run_bare_pool,
    }
    if baseline is not None:
        engines["improve-hpo (MPI), baseline"] = (
            lambda m, n, w: run_improve_hpo(m, n, w, "mpi", source=baseline))
        engines["improve-hpo --workers, baseline"] = (
            lambda m, n, w: run_improve_hpo(m, n, w, "workers", source=baseline))
    if importlib.util.find_spec("optuna") is not None:
        engines["Optuna random"] = run_optuna
    if importlib.util.find_spec("deephyper") is not None:
        engines["DeepHyper random"] = run_deephyper
    if sandbox is not None:
        runtime = runtime_program()
        engines["improve-hpo (MPI), Singularity"] = (
            lambda m, n, w: run_improve_hpo(m, n, w, "mpi", sandbox, runtime))
        engines["bare process pool, Singularity"] = (
            lambda m, n, w: run_bare_pool(m, n, w, sandbox))
    return engines


def runtime_program() -> str:
    return shutil.which("singularity") or "/opt/singularity-3.4.2/bin/singularity"


def cost_ms(times: list, workers: int) -> float:
    """Worker-milliseconds per trial: workers x (last end - first start) / trials."""
    span = max(end for _, end in times) - min(start for start, _ in times)
    return 1000 * workers * span / len(times)


@dataclass(frozen=True)
class TrialCost:
    engine: str
    workers: int
    trials: int
    ms: float  # median over rounds
    rounds: tuple


def trial_cost(worker_counts=(2, 4, 8), trials: int = 200, rounds: int = 3,
               sandbox: Path | None = None, say=print, engines: dict | None = None
               ) -> list[TrialCost]:
    """Every engine (default: available_engines) at every worker count, rounds interleaved
    (see the module doc)."""
    with tempfile.TemporaryDirectory() as folder:
        model = make_model(Path(folder) / "model")
        engines = engines if engines is not None else available_engines(sandbox)
        measured = {(name, w): [] for name in engines for w in worker_counts}
        for _ in range(rounds):
            for workers in worker_counts:
                for name, engine in engines.items():
                    count = trials if "Singularity" not in name else max(40, trials // 4)
                    measured[name, workers].append(cost_ms(engine(model, count, workers),
                                                           workers))
                    say(f"overhead: {name}, {workers} workers: "
                        f"{measured[name, workers][-1]:.1f} ms per trial")
    return [TrialCost(name, w, trials, statistics.median(values), tuple(values))
            for (name, w), values in measured.items()]


def run_cpu_seconds(name: str, model: Path, trials: int, workers: int,
                    baseline: Path | None = None) -> float:
    """CPU seconds (user + system) of every process of one engine run: the run goes in a child
    process, and everything it starts is reaped inside it (improve-hpo's workers collect their
    keepers, which collect the scripts), so the kernel adds it all to that child's rusage."""
    import resource

    code = ("from pathlib import Path; from benchmarks.overhead import available_engines; "
            f"available_engines(None, {str(baseline) if baseline else None!r})[{name!r}]"
            f"(Path({str(model)!r}), {trials}, {workers})")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True,
                   timeout=1800)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_cost(engines: list[str], workers: int = 8, trials: int = 500, rounds: int = 2,
             say=print, baseline: Path | None = None) -> dict[str, list[float]]:
    """CPU milliseconds per trial of each engine, all its processes together: (CPU of a run of
    2N trials - CPU of a run of N) / N, so start-up cancels; rounds interleaved. Unlike the
    wall-clock figure, it does not depend on the share of the cores each engine gets from the
    scheduler (Linux's autogroup gives each session an equal share, and MPI ranks and the
    keepers each start a session of their own, the bare pool and DeepHyper none)."""
    with tempfile.TemporaryDirectory() as folder:
        model = make_model(Path(folder) / "model")
        measured = {name: [] for name in engines}
        for _ in range(rounds):
            for name in engines:
                once = run_cpu_seconds(name, model, trials, workers, baseline)
                twice = run_cpu_seconds(name, model, 2 * trials, workers, baseline)
                measured[name].append(1000 * (twice - once) / trials)
                say(f"overhead: {name}, {workers} workers: {measured[name][-1]:.2f} CPU ms "
                    "per trial")
    return measured


PERF_HZ = 2000  # perf samples per second of CPU (cpu-clock)


def run_window_cpu(name: str, model: Path, trials: int, workers: int,
                   baseline: Path | None = None) -> tuple[float, float]:
    """(CPU ms per trial of every process of one engine run, of which the script's), from
    `perf record -e cpu-clock` of the whole run, counting only the samples between the first
    and the last sample of train.sh itself: start-up and the end fall out, which the (2N - N)
    difference of cpu_cost leaves to the noise of every rank's start."""
    code = ("from pathlib import Path; from benchmarks.overhead import available_engines; "
            f"available_engines(None, {str(baseline) if baseline else None!r})[{name!r}]"
            f"(Path({str(model)!r}), {trials}, {workers})")
    with tempfile.TemporaryDirectory() as folder:
        data = str(Path(folder) / "perf.data")
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(PERF_HZ), "-o",
                        data, "--", sys.executable, "-c", code], cwd=REPO, check=True,
                       capture_output=True, timeout=1800)
        printed = subprocess.run(["perf", "script", "-i", data, "-F", "comm,time"],
                                 capture_output=True, text=True, check=True).stdout
    samples = []
    for line in printed.splitlines():
        if line.strip():
            comm, stamp = line.rsplit(None, 1)
            samples.append((comm.strip(), float(stamp.rstrip(":"))))
    script = [stamp for comm, stamp in samples if comm == "train.sh"]
    first, last = min(script), max(script)
    inside = [comm for comm, stamp in samples if first <= stamp <= last]
    per_trial = 1000 / PERF_HZ / trials
    return len(inside) * per_trial, inside.count("train.sh") * per_trial


def window_cost(engines: list[str], workers: int = 8, trials: int = 2000, rounds: int = 3,
                say=print, baseline: Path | None = None) -> dict[str, list[tuple]]:
    """run_window_cpu of each engine, rounds interleaved (needs `perf`)."""
    with tempfile.TemporaryDirectory() as folder:
        model = make_model(Path(folder) / "model")
        measured = {name: [] for name in engines}
        for _ in range(rounds):
            for name in engines:
                measured[name].append(run_window_cpu(name, model, trials, workers, baseline))
                total, script = measured[name][-1]
                say(f"overhead: {name}, {workers} workers: {total:.2f} CPU ms per trial, "
                    f"{script:.2f} of them the script's")
    return measured


# -- 2. rank 0 at scale ------------------------------------------------------------------------
@dataclass(frozen=True)
class Overhead:
    ranks: int
    trials: int
    trained: int
    seconds: float
    per_second: float
    wall_ms: float
    rank0_cpu_ms: float
    rank0_peak_rss_mb: float
    first_tenth_per_second: float  # trained trials per second
    last_tenth_per_second: float


POPULATION = 100


def measure(ranks: int, trials: int, profile: str | None = None) -> Overhead:
    """No-op trials: the generational GA with mu = lambda = 100 (a generation per 100 trials)."""
    generations = max(0, (trials - POPULATION) // POPULATION)
    extra = ["--strategy", "generational", "--population", str(POPULATION),
             "--offspring", str(POPULATION), "--generations", str(generations)]
    if profile:
        extra += ["--profile", profile]
    summary = run_engine(ranks, extra, timeout=3600)
    rows = summary["trials"]
    count, seconds = len(rows), summary["makespan"]
    ends = sorted(t["end"] for t in rows if not t["reused"] and t["end"] is not None)
    tenth = max(1, len(ends) // 10)
    first = tenth / max(ends[tenth - 1] - summary["began"], 1e-9)
    last = tenth / max(ends[-1] - ends[-tenth - 1], 1e-9)
    return Overhead(ranks, count, len(ends), seconds, count / seconds, 1000 * seconds / count,
                    1000 * summary["rank0_cpu"] / count, summary["rank0_peak_rss_mb"], first,
                    last)


def hot_spots(ranks: int, trials: int, top: int = 12) -> list[tuple[str, float, float]]:
    """Rank 0's cProfile for one run: (function, cumulative s, own s), by own time."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "rank0.prof")
        measure(ranks, trials, profile=path)
        stats = pstats.Stats(path)
        rows = []
        for (filename, line, name), (_, _, own, cumulative, _) in stats.stats.items():
            where = filename.split("site-packages/")[-1].split(str(REPO) + os.sep)[-1]
            rows.append((f"{where}:{line}({name})", cumulative, own))
    return sorted(rows, key=lambda row: row[2], reverse=True)[:top]


def plot(costs: list[TrialCost], results: list[Overhead], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 3.8))
    for engine in dict.fromkeys(c.engine for c in costs):
        mine = sorted((c for c in costs if c.engine == engine), key=lambda c: c.workers)
        left.plot([c.workers for c in mine], [c.ms for c in mine], marker="o", label=engine)
    left.set_xlabel("workers")
    left.set_ylabel("worker-ms per subprocess trial")
    left.set_ylim(bottom=0)
    left.legend(fontsize=7)
    for ranks in sorted({r.ranks for r in results}):
        mine = sorted((r for r in results if r.ranks == ranks), key=lambda r: r.trials)
        middle.plot([r.trials for r in mine], [r.rank0_cpu_ms for r in mine], marker="o",
                    label=f"{ranks} ranks")
        right.plot([r.trials for r in mine], [r.rank0_peak_rss_mb for r in mine], marker="o",
                   label=f"{ranks} ranks")
    for axis, label in ((middle, "rank 0 CPU ms per trial"), (right, "rank 0 peak RSS (MB)")):
        axis.set_xscale("log")
        axis.set_ylim(bottom=0)
        axis.set_xlabel("trials (in-process no-op)")
        axis.set_ylabel(label)
        axis.legend(fontsize=7)
    right.axhline(200, color="grey", linestyle=":", linewidth=1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- the per-trial figure alone, from the command line -----------------------------------------
def main(argv=None) -> None:
    """`python -m benchmarks.overhead --workers 8 --trials 200 --rounds 5`: part 1 alone (the
    engines chosen with --engines), one line per round and engine, then the medians and the
    ratios of each improve-hpo launch to the bare pool and to DeepHyper within each round.
    `--scale 1000 100000 --ranks 8`: part 2 alone (rank 0's CPU per trial and peak RSS)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=main.__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[8])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=None,
                        help="names (or unique beginnings) of the engines to run; default all "
                             "installed but the Singularity ones")
    parser.add_argument("--baseline", type=Path, metavar="SOURCE_TREE",
                        help="also run improve-hpo from this source tree (e.g. `git archive "
                             "COMMIT | tar -x -C DIR`), as the engines '..., baseline'")
    parser.add_argument("--scale", type=int, nargs="+", metavar="TRIALS",
                        help="measure part 2 instead (rank 0 at scale: no-op trials under "
                             "mpiexec, its CPU per trial and peak RSS) at these trial counts, "
                             "with --ranks ranks")
    parser.add_argument("--ranks", type=int, default=8, help="MPI ranks for --scale (default 8)")
    parser.add_argument("--cpu", action="store_true",
                        help="measure CPU milliseconds per trial instead (cpu_cost), at the "
                             "first --workers count")
    parser.add_argument("--cpu-window", action="store_true",
                        help="measure CPU milliseconds per trial with perf, only while the "
                             "trials run (window_cost; needs perf), at the first --workers "
                             "count")
    args = parser.parse_args(argv)
    if args.scale:
        print("| ranks | trials | seconds | rank 0 CPU ms/trial | rank 0 peak RSS (MB) | "
              "trained/s, first tenth | trained/s, last tenth |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for trials in args.scale:
            r = measure(args.ranks, trials)
            print(f"| {r.ranks} | {r.trials} | {r.seconds:.1f} | {r.rank0_cpu_ms:.2f} | "
                  f"{r.rank0_peak_rss_mb:.0f} | {r.first_tenth_per_second:.0f} | "
                  f"{r.last_tenth_per_second:.0f} |", flush=True)
        return
    engines = available_engines(None, args.baseline)
    if args.engines:
        chosen = {}
        for wanted in args.engines:
            matches = [name for name in engines if name.lower() == wanted.lower()] or \
                [name for name in engines if name.lower().startswith(wanted.lower())]
            if len(matches) != 1:
                parser.error(f"--engines {wanted}: matches {matches or 'nothing'} of "
                             f"{list(engines)}")
            chosen[matches[0]] = engines[matches[0]]
        engines = chosen
    if args.cpu_window:
        measured = window_cost(list(engines), args.workers[0], args.trials, args.rounds,
                               baseline=args.baseline)
        print("\n| engine | workers | CPU ms per trial (median) | rounds | not the script |\n"
              "|---|---:|---:|---|---|")
        for name, values in measured.items():
            others = [total - script for total, script in values]
            print(f"| {name} | {args.workers[0]} | "
                  f"{statistics.median(total for total, _ in values):.2f} | "
                  + ", ".join(f"{total:.2f}" for total, _ in values)
                  + f" | {min(others):.2f}-{max(others):.2f} |")
        return
    if args.cpu:
        measured = cpu_cost(list(engines), args.workers[0], args.trials, args.rounds,
                            baseline=args.baseline)
        print("\n| engine | workers | CPU ms per trial (median) | rounds |\n|---|---:|---:|---|")
        for name, values in measured.items():
            print(f"| {name} | {args.workers[0]} | {statistics.median(values):.2f} | "
                  + ", ".join(f"{ms:.2f}" for ms in values) + " |")
        return
    costs = trial_cost(args.workers, args.trials, args.rounds, engines=engines, say=print)
    print("\n| engine | workers | trials | worker-ms per trial (median) | rounds |")
    print("|---|---:|---:|---:|---|")
    for cost in costs:
        print(f"| {cost.engine} | {cost.workers} | {cost.trials} | {cost.ms:.1f} | "
              + ", ".join(f"{ms:.1f}" for ms in cost.rounds) + " |")
    by_key = {(c.engine, c.workers): c for c in costs}
    for workers in args.workers:
        for reference in ("bare process pool", "DeepHyper random"):
            ref = by_key.get((reference, workers))
            for cost in costs:
                if ref is None or cost.workers != workers or not cost.engine.startswith("improve"):
                    continue
                ratios = [mine / theirs for mine, theirs in zip(cost.rounds, ref.rounds)]
                print(f"{cost.engine} / {reference}, {workers} workers, per round: "
                      + ", ".join(f"{r:.2f}" for r in ratios)
                      + f" (median {statistics.median(ratios):.2f})")


if __name__ == "__main__":
    main()
