"""What a curator sees while a run goes on, and what is on disk whatever stops it: the start
banner, a line per finished trial, the live bar on a terminal, best.json and best_config.ini
after a stop in generation 0, and the counts of the last line."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from csv_exact import read_csv
from engine_models.harness import command, run, started, wait_for

from improve_hpo.ledger import TrialRecord
from improve_hpo.reports.progress import Progress, trial_line


def test_a_run_prints_a_banner_and_a_line_per_finished_trial(tmp_path):
    result = run(command(tmp_path, "--workers", 2, "--population", 4, "--generations", 1,
                         "--seed", 3, "--strategy", "generational"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("improve-hpo: start: ga (generational), population 4, "
                               "offspring 2, 1 generations after the first, seed 3: "
                               "6 trials planned")
    assert lines[1].startswith("improve-hpo: workers: 2 (local worker processes); GPUs: none")
    assert lines[3] == f"improve-hpo: output: {tmp_path / 'out'}"
    trial_lines = [line for line in lines if line.startswith("improve-hpo: trial ")]
    assert len(trial_lines) == 6
    trials = read_csv(tmp_path / "out/trials.csv").set_index("trial")
    best_so_far = None
    for line in trial_lines:
        number = int(line.split()[2])
        metric = trials.loc[number, "metric"]
        best_so_far = metric if best_so_far is None else min(best_so_far, metric)
        assert f"ok val_loss {metric:.6g} in " in line
        assert f"on rank {trials.loc[number, 'rank']}" in line
        assert f"| best {best_so_far:.6g} (trial " in line
    assert trial_lines[-1].endswith("| 6/6 done, ~0:00:00 left")
    assert "| 1/6 done, ~" in trial_lines[0]
    generation = [line for line in lines if line.startswith("improve-hpo: generation 0/1: ")]
    assert len(generation) == 1
    assert lines.index(generation[0]) == lines.index(trial_lines[3]) + 1


def test_a_stop_at_max_evaluations_in_generation_0_leaves_best_and_counts_what_ran(tmp_path):
    result = run(command(tmp_path, "--workers", 2, "--population", 6, "--generations", 2,
                         "--max-evaluations", 3))
    assert result.returncode == 0, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("improve-hpo: stopped at --max-evaluations 3: 3 trials trained, "
                           "0 reused an earlier result, 0 failed; best val_loss "), last
    trials = read_csv(tmp_path / "out/trials.csv")
    assert len(trials) == 3
    best = json.loads((tmp_path / "out/best.json").read_text())
    assert best["metric"] == trials["metric"].min()
    assert best["trial"] == int(trials.loc[trials["metric"].idxmin(), "trial"])
    assert (tmp_path / "out/best_config.ini").is_file()
    assert not (tmp_path / "out/generations.csv").read_text().strip().count("\n")


def _slow_when_n_is_1(tmp_path):
    """A space for the fake model whose points with n = 1 train for a minute."""
    space = tmp_path / "hp.json"
    space.write_text(json.dumps([
        {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
        {"name": "n", "type": "ordered", "element_type": "int", "values": [0, 1]},
        {"name": "slow_n", "type": "constant", "value": 1},
        {"name": "slow_sleep", "type": "constant", "value": 60}]))
    return space


def test_sigterm_in_generation_0_leaves_best_and_names_every_interrupted_trial(tmp_path):
    """Two workers: one trial finishes at once, the slow ones are stopped. best.json is there,
    the message counts the rows trials.csv marks interrupted, and each says where it ran."""
    space = _slow_when_n_is_1(tmp_path)
    init = tmp_path / "init.csv"
    init.write_text("x,n\n0.3,0\n0.5,1\n0.6,1\n0.7,1\n")
    argv = command(tmp_path, "--workers", 2, "--population", 4, "--generations", 1,
                   "--strategy", "generational", "--init-population", init, space=space)
    out = tmp_path / "out"
    with started(argv, tmp_path) as process:
        wait_for(lambda: (out / "best.json").is_file()
                 and len(list((out / "trials").glob("*/worker.json"))) >= 2, process=process)
        wait_for(lambda: sum(1 for _ in (out / "trials").glob("*/worker.json")) >= 3,
                 process=process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    trials = read_csv(out / "trials.csv")
    interrupted = trials[trials["status"] == "interrupted"]
    assert f"stopped by SIGTERM: {len(interrupted)} running trial(s) marked interrupted" in stderr
    assert len(interrupted) == 2
    assert interrupted["rank"].notna().all() and interrupted["host"].notna().all()
    best = json.loads((out / "best.json").read_text())
    assert best["trial"] == 0 and best["values"]["x"] == 0.3


def test_the_idle_worker_warning_is_in_the_real_run(tmp_path):
    result = run(command(tmp_path, "--workers", 3, "--population", 2, "--generations", 1,
                         "--offspring", 1, "--strategy", "generational"))
    assert result.returncode == 0, result.stderr
    assert ("improve-hpo: warning: 3 workers but --population 2: 1 of them idle in "
            "generation 0") in result.stderr
    assert ("improve-hpo: warning: 3 workers but --offspring 1: 2 of them idle in every later "
            "generation") in result.stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_live_bar_and_a_log_gets_lines_only():
    record = TrialRecord(4, 0, "k", {"x": 0.5}, "initial", status="ok", metric=0.25, start=10.0,
                         end=13.5, rank=2, gpu="1")
    terminal, log = _Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress("val_loss", planned=10, finished=3, stream=stream)
        progress.trial_done(record, record)
        progress.close()
    line = trial_line(record, "val_loss", record, 4, 10, None)
    assert line == ("improve-hpo: trial 4 ok val_loss 0.25 in 3.5 s on rank 2 gpu 1 | "
                    "best 0.25 (trial 4) | 4/10 done")
    assert log.getvalue().startswith(line)
    assert "\r" not in log.getvalue()
    assert line in terminal.getvalue()
    assert "4/10" in terminal.getvalue() and "\r" in terminal.getvalue()  # tqdm's bar
    assert "best val_loss 0.25" in terminal.getvalue()


def _on_a_terminal(argv: list[str], timeout: float = 120) -> str:
    """Run argv with stdout and stderr on a pseudo-terminal (100 columns); what it showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "COLUMNS": "100"}
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                               env=env, start_new_session=True)
    os.close(follower)
    chunks, ends = [], time.monotonic() + timeout
    try:
        while time.monotonic() < ends:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the run ended and closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert process.wait(timeout=10) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        os.close(leader)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def test_on_a_terminal_every_line_of_the_run_is_printed_above_the_bar(tmp_path):
    """A real run on a pseudo-terminal shows tqdm's bar, and every line the engine prints
    while the bar is up (the trial and generation lines, --infer best's line at the end) is a
    line of its own: none is written into the bar."""
    shown = _on_a_terminal(command(tmp_path, "--population", 3, "--generations", 1,
                                   "--offspring", 2, "--strategy", "generational",
                                   "--infer", "best", "--seed", 1))
    visible = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).rsplit("\r", 1)[-1].rstrip()
               for line in shown.split("\n")]
    bars = [line for line in shown.split("\n") if re.search(r"\d+%\|.*\| \d/5 \[", line)]
    assert bars, shown  # tqdm drew its bar
    for line in visible:
        if "%|" in line:  # a bar alone (it is cleared and redrawn below each line)
            assert re.fullmatch(r"improve-hpo: +\d+%\|[^\]]*\]", line), shown
    messages = [line for line in visible if line.startswith("improve-hpo: ")
                and "%|" not in line]
    assert sum(line.startswith("improve-hpo: trial ") for line in messages) == 5, shown
    assert sum(line.startswith("improve-hpo: generation ") for line in messages) == 2, shown
    assert any(line.startswith("improve-hpo: inferred with the best trial ")
               for line in messages), shown
    assert messages[-1].startswith("improve-hpo: done: 5 trials trained"), shown


def test_trial_lines_wait_for_the_pass_and_keep_their_order(monkeypatch):
    """The driver's trial lines are written once a pass ends (flush, after the ledger's
    commit), all with one write; a line said meanwhile (a generation, a warning through
    write_line) comes after the trial lines before it; close writes what is held."""
    from improve_hpo.reports import progress as progress_module

    writes = []

    class Log(io.StringIO):
        def write(self, text):
            writes.append(text)
            return super().write(text)

    log = Log()
    monkeypatch.setattr(sys, "stderr", log)
    progress = Progress("val_loss", planned=10, stream=sys.stderr)
    records = [TrialRecord(n, 0, "k", {"x": 0.5}, "initial", status="ok", metric=0.25 - n / 100,
                           start=10.0, end=11.0, rank=1) for n in range(4)]
    progress.trial_done(records[0], records[0])
    progress.trial_done(records[1], records[1])
    assert log.getvalue() == ""  # held
    progress.flush()
    assert len(writes) == 1 and log.getvalue().count("\n") == 2
    progress.trial_done(records[2], records[2])
    progress_module.write_line("improve-hpo: warning: something")
    progress.trial_done(records[3], records[3])
    progress.close()
    lines = log.getvalue().splitlines()
    assert [line.split(" | ")[0].split()[2] for line in lines if " | " in line] == \
        ["0", "1", "2", "3"]
    assert lines.index("improve-hpo: warning: something") == 3
    assert "4/10 done" in lines[-1]
    progress_module.write_line("improve-hpo: after the run")  # no Progress any more
    assert log.getvalue().endswith("improve-hpo: after the run\n")


def test_in_process_a_trials_line_is_out_before_the_next_trial_ends(tmp_path):
    """In-process the next trial runs inside the pass that commits the one before: its line
    (held until the pass's flush) must be written before that trial starts, not after it."""
    import threading

    space = _slow_when_n_is_1(tmp_path)
    init = tmp_path / "init.csv"
    init.write_text("x,n\n0.3,0\n0.5,1\n")
    argv = command(tmp_path, "--population", 2, "--generations", 0, "--strategy",
                   "generational", "--init-population", init, space=space)
    lines: list[str] = []
    with started(argv, tmp_path) as process:
        reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
        reader.start()
        wait_for(lambda: (tmp_path / "out/trials/trial_000001/worker.json").is_file(),
                 process=process)
        wait_for(lambda: any(line.startswith("improve-hpo: trial 0 ok") for line in lines),
                 process=process)
        assert process.poll() is None  # trial 1 still sleeps
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=10)
    assert process.returncode == 143, "".join(lines)
