"""A search where nothing succeeds stops after generation 0 (--max-initial-failures, default the
population size) with exit code 3, the failure reasons counted and one failing trial's log named;
one success turns the stop off; 0 turns it off."""

from __future__ import annotations

import re

from engine_models import harness


def failing_space(tmp):
    """The fake model's train exits 1 when its `fail` flag is true."""
    return harness.write_space(tmp, harness.BASE_SPACE + [
        {"name": "fail", "type": "constant", "value": True}])


def test_all_of_generation_0_failed_exits_3_with_reasons_and_a_log(tmp_path):
    done = harness.run(harness.command(tmp_path, "--population", 4, "--generations", 5,
                                       "--workers", 2, space=failing_space(tmp_path)))
    assert done.returncode == 3, done.stderr
    # the trials running when the 4th failure came in finish first (at most one per worker)
    found = re.search(r"nothing succeeded: all (\d) trials this run finished failed \(a run "
                      r"stops after --max-initial-failures 4 such; 0 turns that off\)",
                      done.stderr)
    assert found and 4 <= int(found[1]) <= 5, done.stderr
    assert f"  {found[1]} x train.sh exited with code 1: train: told to fail" in done.stderr
    log = re.search(r"log of trial \d+: (\S+)", done.stderr).group(1)
    assert log.endswith("train.stderr.log") and open(log).read()
    # generation 0 only: the allocation is not burnt on generations 1-5
    ledger_trials = (tmp_path / "out" / "trials.csv").read_text().splitlines()[1:]
    assert len(ledger_trials) == int(found[1])


def test_a_smaller_limit_stops_earlier_and_zero_turns_it_off(tmp_path):
    done = harness.run(harness.command(tmp_path, "--population", 4, "--generations", 1,
                                       "--max-initial-failures", 2,
                                       space=failing_space(tmp_path)))
    assert done.returncode == 3
    assert re.search(r"all [23] trials this run finished failed", done.stderr)
    off = harness.run(harness.command(tmp_path, "--population", 2, "--generations", 1,
                                      "--max-initial-failures", 0, out=tmp_path / "off",
                                      space=failing_space(tmp_path)))
    # every trial ran; a run in which nothing ever succeeded still ends with exit code 3
    assert off.returncode == 3
    assert re.search(r"all [23] trials this run finished failed", off.stderr)
    assert "generation 1/1" in off.stderr


def test_a_negative_limit_is_a_usage_error(tmp_path):
    done = harness.run(harness.command(tmp_path, "--max-initial-failures", -1))
    assert done.returncode == 2
    assert "--max-initial-failures: must be at least 0, got -1" in done.stderr
