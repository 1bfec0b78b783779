"""run_preprocess / run_trial / run_infer natively, with tiny real models: argv, folder
contents, metric read-back, every failure reason, timeouts, interruption, command.txt."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest
from runner_fixtures import (CPU_WORKER, PRINT_RESULT, assert_all_gone, make_model,
                             recorded_call, settings_for, wait_for_file)

from improve_hpo.runner import WorkerContext, run_infer, run_preprocess, run_trial

GPU_WORKER = WorkerContext(rank=3, local_rank=1, host="node7", gpu="2")
# A train.sh that starts a grandchild (which ignores SIGTERM), records both pids, and hangs.
HANG_WITH_GRANDCHILD = textwrap.dedent('''
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    Path("pids.json").write_text(json.dumps([os.getpid(), child.pid]))
    time.sleep(600)
''')


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def trial(tmp_path, data, train_body, *options, worker=CPU_WORKER, values=None, **kw):
    model = make_model(tmp_path / "model", train=train_body, infer=kw.pop("infer_body", ""))
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data), *options)
    (tmp_path / "pre").mkdir(exist_ok=True)
    return run_trial(settings, values or {"lr": 0.1}, tmp_path / "t", tmp_path / "pre", worker,
                     **kw)


def test_trial_argv_folder_and_result(tmp_path, data):
    result = trial(tmp_path, data, PRINT_RESULT, worker=GPU_WORKER,
                   values={"lr": 0.1, "layers": 3, "bn": True, "opt": "adam"})
    folder = tmp_path / "t"
    assert (result.status, result.reason, result.metric) == ("ok", None, 0.25)
    assert (result.rank, result.host, result.gpu, result.folder) == (3, "node7", "2", str(folder))
    assert result.start <= result.end
    json.dumps(asdict(result))
    call = recorded_call(folder, "train.sh")
    assert call == {"cuda": "2", "args": [
        "2", str(data), "--input_dir", str(tmp_path / "pre"), "--output_dir", str(folder),
        "--lr", "0.1", "--layers", "3", "--bn", "True", "--opt", "adam"]}
    assert json.loads((folder / "params.json").read_text()) == {
        "train": {"lr": 0.1, "layers": 3, "bn": True, "opt": "adam"}}
    assert "IMPROVE_RESULT" in (folder / "train.stdout.log").read_text()
    assert (folder / "train.stderr.log").exists()
    line, = (folder / "command.txt").read_text().splitlines()
    assert "CUDA_VISIBLE_DEVICES=2" in line and "train.sh" in line


def test_cpu_trial_passes_minus_one(tmp_path, data):
    trial(tmp_path, data, PRINT_RESULT)
    call = recorded_call(tmp_path / "t", "train.sh")
    assert call["cuda"] == "-1" and call["args"][0] == "-1"


def test_directory_flags_can_be_renamed_or_dropped(tmp_path, data):
    trial(tmp_path, data, PRINT_RESULT, "--train-input-flag", "", "--train-output-flag",
          "model_outdir")
    args = recorded_call(tmp_path / "t", "train.sh")["args"]
    assert args == ["-1", str(data), "--model_outdir", str(tmp_path / "t"), "--lr", "0.1"]


def test_metric_from_val_scores_json_first(tmp_path, data):
    body = 'Path(flag("--output_dir"), "val_scores.json").write_text(json.dumps(' \
           '{"val_loss": 0.125, "r2": 0.75}))\n' + PRINT_RESULT
    assert trial(tmp_path, data, body).metric == 0.125


def test_other_metric_from_val_scores_json(tmp_path, data):
    body = 'Path(flag("--output_dir"), "val_scores.json").write_text(json.dumps(' \
           '{"mse": 0.5, "r2": 0.75}))\n' + PRINT_RESULT
    result = trial(tmp_path, data, body, "--metric", "r2", "--mode", "max")
    assert (result.status, result.metric) == ("ok", 0.75)


def test_last_result_line_wins_and_whitespace_is_tolerated(tmp_path, data):
    body = textwrap.dedent('''
        print("IMPROVE_RESULT val_loss:\\t9.0")
        print("IMPROVE_RESULT val_acc:\\t0.1")
        print("  IMPROVE_RESULT   val_loss :  0.375  ")
        print("IMPROVE_RESULT val_acc: 0.2")
    ''')
    assert trial(tmp_path, data, body).metric == 0.375


def test_improvelib_style_scores_without_val_loss_use_the_printed_line(tmp_path, data):
    body = 'Path(flag("--output_dir"), "val_scores.json").write_text(json.dumps(' \
           '{"mse": 0.5, "rmse": 0.7})); print("IMPROVE_RESULT val_loss:\\t0.5")\n'
    assert trial(tmp_path, data, body).metric == 0.5


def test_nonzero_exit_fails_and_ignores_a_printed_metric(tmp_path, data):
    result = trial(tmp_path, data, PRINT_RESULT + "sys.exit(3)\n")
    assert (result.status, result.reason, result.metric) == (
        "failed", "train.sh exited with code 3", None)


def test_killed_by_a_signal(tmp_path, data):
    result = trial(tmp_path, data, "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert (result.status, result.reason) == ("failed", "train.sh was killed by SIGKILL")


def test_no_metric(tmp_path, data):
    result = trial(tmp_path, data, 'print("done")\n')
    assert (result.status, result.reason, result.metric) == (
        "failed", "no metric val_loss in val_scores.json or output", None)


@pytest.mark.parametrize("body, reason", [
    ('print("IMPROVE_RESULT val_loss:\\tnan")\n', "metric val_loss is nan"),
    ('print("IMPROVE_RESULT val_loss:\\tinf")\n', "metric val_loss is inf"),
    ('print("IMPROVE_RESULT val_loss:\\t-inf")\n', "metric val_loss is -inf"),
    ('Path(flag("--output_dir"), "val_scores.json").write_text(json.dumps({"val_loss": '
     'float("nan")}))\n', "metric val_loss is nan"),
    ('Path(flag("--output_dir"), "val_scores.json").write_text(json.dumps({"val_loss": '
     'float("inf")}))\n', "metric val_loss is inf"),
    ('print("IMPROVE_RESULT val_loss:\\tlow")\n',
     "metric val_loss in the IMPROVE_RESULT line is not a number: 'low'"),
])
def test_non_finite_or_non_numeric_metric_fails(tmp_path, data, body, reason):
    result = trial(tmp_path, data, body)
    assert (result.status, result.reason, result.metric) == ("failed", reason, None)


def test_stale_scores_from_an_earlier_attempt_are_not_read(tmp_path, data):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "val_scores.json").write_text('{"val_loss": 0.001}')
    result = trial(tmp_path, data, 'print("crashed before scoring")\n')
    assert result.status == "failed" and result.metric is None


def test_timeout_kills_the_whole_process_group(tmp_path, data):
    result = trial(tmp_path, data, HANG_WITH_GRANDCHILD, "--trial-timeout", "1")
    assert (result.status, result.reason, result.metric) == (
        "failed", "train.sh ran past --trial-timeout 1 s; killed", None)
    assert_all_gone(tmp_path / "t" / "pids.json")


def test_start_failure_is_a_result(tmp_path, data):
    model = make_model(tmp_path / "model")
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data))
    (model / "train.sh").chmod(0o644)  # broken after the settings were checked
    result = run_trial(settings, {}, tmp_path / "t", tmp_path, CPU_WORKER)
    assert result.status == "failed"
    assert result.reason.startswith("train.sh could not start: ")


def test_preprocess_argv_params_and_failure(tmp_path, data):
    model = make_model(tmp_path / "model", preprocess="sys.exit(int(flag('--code')))\n")
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data))
    ok = run_preprocess(settings, {"code": 0}, tmp_path / "pre", CPU_WORKER)
    assert (ok.stage, ok.status, ok.reason, ok.folder) == ("preprocess", "ok", None,
                                                          str(tmp_path / "pre"))
    assert recorded_call(tmp_path / "pre", "preprocess.sh")["args"] == [
        str(data), "--input_dir", str(data), "--output_dir", str(tmp_path / "pre"),
        "--code", "0"]
    assert json.loads((tmp_path / "pre" / "params.json").read_text()) == {
        "preprocess": {"code": 0}}
    bad = run_preprocess(settings, {"code": 2}, tmp_path / "pre2", CPU_WORKER)
    assert (bad.status, bad.reason) == ("failed", "preprocess.sh exited with code 2")


def test_infer_all_runs_infer_inside_the_trial(tmp_path, data):
    result = trial(tmp_path, data, PRINT_RESULT, "--infer", "all", worker=GPU_WORKER,
                   infer_values={"calc_infer_scores": True})
    folder = tmp_path / "t"
    assert result.status == "ok" and result.metric == 0.25
    assert recorded_call(folder, "infer.sh") == {"cuda": "2", "args": [
        "2", str(data), "--input_data_dir", str(tmp_path / "pre"), "--input_model_dir",
        str(folder), "--output_dir", str(folder), "--calc_infer_scores", "True"]}
    assert len((folder / "command.txt").read_text().splitlines()) == 2
    assert json.loads((folder / "params.json").read_text()) == {
        "train": {"lr": 0.1}, "infer": {"calc_infer_scores": True}}


def test_infer_failure_is_recorded_and_keeps_the_trial(tmp_path, data):
    result = trial(tmp_path, data, PRINT_RESULT, "--infer", "all", infer_body="sys.exit(1)\n")
    assert (result.status, result.reason, result.metric) == (
        "ok", "trained; infer: infer.sh exited with code 1", 0.25)


def test_infer_best_leaves_infer_to_the_engine(tmp_path, data):
    trial(tmp_path, data, PRINT_RESULT)
    assert not (tmp_path / "t" / "infer.sh.argv.json").exists()


def test_run_infer_legacy_positionals(tmp_path, data):
    model = make_model(tmp_path / "model")
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data),
                            "--infer-legacy-args", "--infer-model-flag", "")
    result = run_infer(settings, {}, tmp_path / "t", tmp_path / "pre", GPU_WORKER)
    assert (result.stage, result.status) == ("infer", "ok")
    assert recorded_call(tmp_path / "t", "infer.sh")["args"] == [
        str(data), "--input_data_dir", str(tmp_path / "pre"), "--output_dir",
        str(tmp_path / "t")]


def test_command_txt_reproduces_the_trial_in_bash(tmp_path, data):
    values = {"opt": '"; touch pwned #', "note": "it's $HOME", "lr": 1e-3, "bn": False}
    assert trial(tmp_path, data, PRINT_RESULT, values=values, worker=GPU_WORKER).status == "ok"
    folder = tmp_path / "t"
    by_runner = recorded_call(folder, "train.sh")
    (folder / "train.sh.argv.json").unlink()
    # The one place a shell runs: the user pasting command.txt. Run from elsewhere, no GPU env.
    subprocess.run(["bash", str(folder / "command.txt")], cwd=tmp_path, check=True,
                   env={"PATH": "/usr/bin:/bin"}, capture_output=True)
    assert recorded_call(folder, "train.sh") == by_runner
    assert not list(tmp_path.rglob("pwned"))


DRIVER = textwrap.dedent('''
    import json, sys
    from dataclasses import asdict
    sys.path.insert(0, sys.argv[1])
    from runner_fixtures import CPU_WORKER, settings_for
    from improve_hpo.runner import install_interrupt_handlers, interrupt_requested, run_trial
    model, data, folder = sys.argv[2:5]
    install_interrupt_handlers()
    settings = settings_for("--model-dir", model, "--data-dir", data)
    first = run_trial(settings, {}, folder + "/t1", folder, CPU_WORKER)
    second = run_trial(settings, {}, folder + "/t2", folder, CPU_WORKER)
    print(json.dumps([asdict(first), asdict(second), interrupt_requested()]))
''')


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_worker_kills_the_trial_and_returns_interrupted(tmp_path, data, signum):
    model = make_model(tmp_path / "model", train=HANG_WITH_GRANDCHILD)
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(Path(__file__).parent), str(model), str(data),
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert wait_for_file(tmp_path / "t1" / "pids.json")
        driver.send_signal(signum)
        out, _ = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0
    first, second, requested = json.loads(out)
    assert (first["status"], first["metric"]) == ("interrupted", None)
    assert first["reason"] == "train.sh interrupted by a signal to the worker; killed"
    assert second["status"] == "interrupted" and requested is True
    assert not (tmp_path / "t2" / "train.sh.argv.json").exists()  # nothing new started
    assert_all_gone(tmp_path / "t1" / "pids.json")
