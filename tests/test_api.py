"""The Python API: the README's example runs as it is; failures, resume, worker processes and
plain records without pandas."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from csv_exact import read_csv
import improve_hpo
from improve_hpo.errors import UsageError

README = Path(__file__).resolve().parent.parent / "README.md"
SPACE = [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
         {"name": "n", "type": "int", "lower": 0, "upper": 3},
         {"name": "scale", "type": "constant", "value": 2.0, "stage": "preprocess"}]


def readme_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_example_runs_and_reads_its_experiment(tmp_path):
    done = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "api-demo"
    best = json.loads((out / "best.json").read_text())
    trials = read_csv(out / "trials.csv")
    assert len(trials) == 8 + 3 * 4
    folder = out / "trials" / f"trial_{best['trial']:06d}"
    first = done.stdout.splitlines()[0]
    assert first == f"{best['metric']} {best['values']} {best['trial']} {folder}"
    assert best["metric"] == pytest.approx((best["values"]["x"] - 0.3) ** 2
                                           + 0.1 * best["values"]["layers"])
    assert "improve-hpo: start: ga (" in done.stderr and "population 8" in done.stderr
    assert done.stderr.count("improve-hpo: trial ") == 20


def objective(values):
    """Module level, so that worker processes can unpickle it."""
    if values["n"] == 3:
        raise RuntimeError("n = 3 is not supported")
    if values["n"] == 2:
        return float("nan")
    return (values["x"] - 0.3) ** 2 * values["scale"] + 0.01 * values["n"]


def test_a_search_over_a_function_records_failures_and_resumes(tmp_path):
    calls = []

    def counted(values):
        calls.append(values)
        return objective(values)

    results = improve_hpo.optimize(counted, SPACE, tmp_path / "out", population=6,
                                   generations=2, seed=4, metric="loss")
    trials = results.trials()
    assert isinstance(trials, pd.DataFrame) and len(trials) == 12
    assert all(set(values) == {"x", "n", "scale"} and values["scale"] == 2.0 for values in calls)
    ran = trials[trials["reused_from"].isna()]
    assert len(calls) == len(ran)
    for row in trials.itertuples():
        if row.n == 3:
            assert row.status == "failed" and row.reason == "RuntimeError: n = 3 is not supported"
        elif row.n == 2:
            assert row.status == "failed" and row.reason == "the objective returned nan"
        else:
            assert row.status == "ok"
            assert row.metric == pytest.approx((row.x - 0.3) ** 2 * 2 + 0.01 * row.n)
    ok = trials[trials["status"] == "ok"]
    assert results.best_metric == ok["metric"].min()
    best_row = ok.loc[ok["metric"].idxmin()]
    assert results.best_trial == best_row["trial"]
    assert results.best_values == dict(x=best_row["x"], n=best_row["n"], scale=2.0)
    assert results.metric_name == "loss" and results.mode == "min" and not results.running
    assert json.loads((tmp_path / "out/best.json").read_text())["trial"] == results.best_trial
    # Again with one more generation: the first twelve are not evaluated again.
    calls.clear()
    again = improve_hpo.optimize(counted, SPACE, tmp_path / "out", population=6, generations=3,
                                 seed=4, metric="loss")
    assert len(again.trials()) == 15 and len(calls) <= 3
    assert list(again.generations(as_frame=False)[-1])[:2] == ["generation", "trials"]


def test_worker_processes_run_a_module_level_objective(tmp_path):
    results = improve_hpo.optimize(objective, SPACE, tmp_path / "out", population=4,
                                   generations=1, seed=2, workers=2)
    records = results.trials(as_frame=False)
    assert isinstance(records, list) and len(records) == 6
    assert {r["rank"] for r in records if r["reused_from"] is None} <= {1, 2}
    assert all(r["status"] in ("ok", "failed") for r in records)
    assert not math.isnan(results.best_metric)


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="mode: must be min or max"):
        improve_hpo.optimize(objective, SPACE, tmp_path / "a", mode="lowest")
    with pytest.raises(UsageError, match="--population: must be at least 2"):
        improve_hpo.optimize(objective, SPACE, tmp_path / "b", population=1)
    with pytest.raises(UsageError, match="no such folder"):
        improve_hpo.open_experiment(tmp_path / "missing")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _until_the_stop(values):
    """Sleeps to the run's stop, then says it could not finish: the walltime budget's end."""
    trial = improve_hpo.current_trial()
    assert trial.folder.is_dir() and (trial.folder / "worker.json").is_file()
    if trial.stop_at is None:
        return values["x"]
    time.sleep(max(0.0, trial.stop_at - time.time()))
    raise improve_hpo.TrialInterrupted("would not finish before the stop")


def test_a_walltime_budget_stops_the_search_and_the_next_call_continues(tmp_path):
    began = time.time()
    stopped = improve_hpo.optimize(_until_the_stop, SPACE, tmp_path / "out", population=4,
                                   generations=1, seed=5, time_limit=0.5, stop_margin=0.2,
                                   job_walltime=False)
    outcome = stopped.outcome
    assert outcome.exit_code == 75 and outcome.at_deadline
    assert began + 0.3 <= outcome.stop_at <= outcome.started + 0.3  # 0.5 s - 0.2 s margin
    assert outcome.started <= outcome.stop_at <= outcome.ended and outcome.cpu_seconds >= 0
    [row] = stopped.trials(as_frame=False)
    assert row["status"] == "interrupted"  # by the objective, or marked at the stop:
    assert row["reason"] in ("would not finish before the stop",
                             "the run was stopped by its deadline")
    # The next call (no budget: job_walltime=False ignores a Slurm/PBS job's end) continues
    # and runs the interrupted trial again.
    done = improve_hpo.optimize(_until_the_stop, SPACE, tmp_path / "out", population=4,
                                generations=1, seed=5, job_walltime=False)
    assert done.outcome.exit_code == 0 and done.outcome.stop_at is None
    trials = done.trials(as_frame=False)
    assert len(trials) == 6 and all(t["status"] == "ok" for t in trials)
    assert trials[0]["x"] == row["x"]
    with pytest.raises(RuntimeError, match="only inside an objective"):
        improve_hpo.current_trial()


MPI_SCRIPT = """
import sys
import improve_hpo

def objective(values):
    return (values["x"] - 0.5) ** 2 + 0.1 * improve_hpo.current_trial().rank * 0

results = improve_hpo.optimize(objective, [{"name": "x", "type": "float", "lower": 0.0,
                                            "upper": 1.0}], sys.argv[1], executor="mpi",
                               population=4, generations=2, seed=3, strategy="generational")
print("driver" if results is not None else "worker", flush=True)
"""


def test_executor_mpi_runs_the_objective_on_the_ranks_and_returns_on_rank_0(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(MPI_SCRIPT)
    mpiexec = Path(sys.executable).parent / "mpiexec"
    done = subprocess.run([str(mpiexec), "-n", "3", sys.executable, str(script),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # (mpiexec forwards the ranks' output as it comes: two lines may run together)
    assert done.stdout.count("driver") == 1 and done.stdout.count("worker") == 2
    assert "workers: 2 (MPI ranks 1..2)" in done.stderr
    trials = improve_hpo.open_experiment(tmp_path / "out").trials(as_frame=False)
    assert len(trials) == 8
    assert {t["rank"] for t in trials if t["reused_from"] is None} == {1, 2}


def test_every_search_option_of_the_run_command_is_accepted_and_checked(tmp_path):
    results = improve_hpo.optimize(objective, SPACE, tmp_path / "simple", population=4,
                                   generations=1, strategy="simple", operators="classic",
                                   cx_indpb=0.4, mut_indpb=0.2, max_initial_failures=0, seed=1)
    assert len(results.trials(as_frame=False)) == 8  # eaSimple: mu children a generation
    with pytest.raises(UsageError, match="optimize: no option populaton; the search options "
                                         "are algorithm, "):
        improve_hpo.optimize(objective, SPACE, tmp_path / "a", populaton=4)
    with pytest.raises(UsageError, match="--strategy async: applies to --algorithm ga only"):
        improve_hpo.optimize(objective, SPACE, tmp_path / "b", algorithm="random",
                             strategy="async")
    with pytest.raises(UsageError, match="--time-limit soon: not a duration"):
        improve_hpo.optimize(objective, SPACE, tmp_path / "c", time_limit="soon")
    with pytest.raises(UsageError, match="executor='mpi': run under mpiexec with at least 2"):
        improve_hpo.optimize(objective, SPACE, tmp_path / "d", executor="mpi")
    with pytest.raises(UsageError, match="executor: give a concurrent.futures executor or"):
        improve_hpo.optimize(objective, SPACE, tmp_path / "e", executor="threads")
    assert not any((tmp_path / name).exists() for name in "abcde")


@pytest.mark.parametrize("method, name", [("ga", "mixed"), ("ga-gen", "branin"),
                                          ("random", "mixed")])
def test_optimize_searches_exactly_as_the_quality_benchmarks_ask_tell_loop(tmp_path, method,
                                                                           name):
    """The search-quality figures (benchmarks/methods.py) come from the algorithms' ask/tell
    loop in process, without the ledger's and reports' I/O (three times faster over thousands
    of searches); optimize() over the same objective trains the same points in the same order,
    so those figures are optimize()'s."""
    from benchmarks import methods
    from benchmarks.problems import problem

    budget, seed = 30, 2
    curve = methods.search(method, name, budget, seed)
    base, settings = methods.parse_method(method)
    if base == "ga-gen":
        base, settings = "ga", {"strategy": "generational"}
    chosen = methods._engine_settings(base, settings, budget, seed)
    target = problem(name)
    results = improve_hpo.optimize(
        target.objective, target.space_json, tmp_path / "out", algorithm=chosen.algorithm,
        strategy=chosen.strategy if chosen.algorithm == "ga" else None,
        population=chosen.population, offspring=chosen.offspring,
        generations=chosen.generations, seed=seed, max_evaluations=budget)
    best, api_curve = math.inf, []
    for trial in results.trials(as_frame=False):
        if trial["reused_from"] is None:
            best = min(best, trial["metric"]) if trial["status"] == "ok" else best
            api_curve.append(best)
    assert api_curve == curve


def test_a_given_executor_runs_the_objective_and_each_call_knows_its_own_trial(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    seen = {}

    def sleepy(values):
        folder = improve_hpo.current_trial().folder
        time.sleep(0.05)  # two calls overlap on the two threads
        seen[folder.name] = values["x"]
        assert improve_hpo.current_trial().folder == folder
        return values["x"]

    with ThreadPoolExecutor(2) as threads:
        results = improve_hpo.optimize(sleepy, SPACE, tmp_path / "out", population=4,
                                       generations=1, seed=6, executor=threads, workers=2)
    for trial in results.trials(as_frame=False):
        if trial["reused_from"] is None:
            assert seen[Path(trial["folder"]).name] == trial["x"] == trial["metric"]


def test_initial_takes_an_earlier_experiment_as_init_population_does(tmp_path, capsys):
    earlier = improve_hpo.optimize(objective, SPACE, tmp_path / "one", population=6,
                                   generations=1, seed=7)
    ok = [t for t in earlier.trials(as_frame=False) if t["status"] == "ok"]
    best = sorted(ok, key=lambda t: t["metric"])
    warm = improve_hpo.optimize(objective, SPACE, tmp_path / "two", population=3,
                                generations=0, seed=8, initial=tmp_path / "one")
    first = warm.trials(as_frame=False)
    assert [(t["x"], t["n"]) for t in first] == [(t["x"], t["n"]) for t in best[:3]]
    assert "improve-hpo: note: --init-population " in capsys.readouterr().err
    with pytest.raises(UsageError, match="initial: grid search evaluates the grid only"):
        improve_hpo.optimize(objective, SPACE, tmp_path / "three", algorithm="grid",
                             initial=[{"x": 0.5, "n": 1}])
