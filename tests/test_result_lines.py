"""Result lines as the IMPROVE and CANDLE ecosystem prints them (the rule in runner/metric.py and
docs/compat.md): labelled or not, tabs or spaces, scientific notation, several lines and several
numbers, read from a real stdout log."""

from __future__ import annotations

import pytest

from improve_hpo.runner.metric import ResultLine, parse_result_line, read_metric


@pytest.mark.parametrize("line, parsed", [
    ("IMPROVE_RESULT val_loss:\t0.0123", ResultLine("val_loss", "0.0123")),  # improvelib
    ("IMPROVE_RESULT val_loss 1.5e-05", ResultLine("val_loss", "1.5e-05")),  # Supervisor's LABEL
    ("IMPROVE_RESULT: 0.5", ResultLine(None, "0.5")),  # Supervisor's test models
    ("IMPROVE_RESULT 0.5", ResultLine(None, "0.5")),  # Supervisor's model_runner
    ("IMPROVE_RESULT\t-2.5E+03", ResultLine(None, "-2.5E+03")),
    ("IMPROVE_RESULT RMSE:\t0.25", ResultLine("RMSE", "0.25")),  # PathDSP's legacy script
    ("IMPROVE_RESULT val_loss=0.7", ResultLine("val_loss", "0.7")),
    ("IMPROVE_RESULT: '0.5'", ResultLine(None, "0.5")),  # Supervisor's own echo of the result
    ("INFO 12:00:01 IMPROVE_RESULT val_loss: 0.3", ResultLine("val_loss", "0.3")),  # log prefix
    ("IMPROVE_RESULT 0.5 0.7", ResultLine(None, "0.5")),  # the first number is the value
    ("IMPROVE_RESULT val_loss: 0.5 (best 0.4)", ResultLine("val_loss", "0.5")),
    ("IMPROVE_RESULT val_loss:", ResultLine("val_loss", "")),
    ("IMPROVE_RESULT", ResultLine(None, "")),
    ("IMPROVE_RESULTS 0.5", None), ("MY_IMPROVE_RESULT 0.5", None), ("val_loss 0.5", None),
])
def test_parse_result_line(line, parsed):
    assert parse_result_line(line) == parsed


@pytest.mark.parametrize("printed, metric, value, reason", [
    # the last line labelled with the metric wins (GraphDRP v0.6.0 prints val_loss twice)
    ("IMPROVE_RESULT val_loss:\t0.9\nIMPROVE_RESULT val_loss:\t0.25\n", "val_loss", 0.25, None),
    # DeepTTC v0.1.0: three labelled lines, --metric picks one
    ("IMPROVE_RESULT val_loss:\t0.3\nIMPROVE_RESULT pcc:\t0.8\nIMPROVE_RESULT scc:\t0.7\n",
     "pcc", 0.8, None),
    # an unlabelled line is the value of whatever --metric is, unless a labelled one exists
    ("IMPROVE_RESULT: 0.5\n", "val_loss", 0.5, None),
    ("IMPROVE_RESULT 1.5e-05\n", "r2", 1.5e-05, None),
    ("IMPROVE_RESULT 0.1\nIMPROVE_RESULT val_loss: 0.2\nIMPROVE_RESULT 0.3\n", "val_loss", 0.2,
     None),
    ("IMPROVE_RESULT val_loss:\tnan\n", "val_loss", None, "metric val_loss is nan"),
    ("IMPROVE_RESULT -inf\n", "val_loss", None, "metric val_loss is -inf"),
    ("IMPROVE_RESULT RMSE:\t0.5\n", "val_loss", None,
     "no metric val_loss in val_scores.json or output"),
    ("IMPROVE_RESULT val_loss: abc\n", "val_loss", None,
     "metric val_loss in the IMPROVE_RESULT line is not a number: 'abc'"),
])
def test_read_metric_from_a_log(tmp_path, printed, metric, value, reason):
    log = tmp_path / "train.stdout.log"
    log.write_text("epoch 1\n" + printed)
    reading = read_metric(tmp_path, log, metric)
    assert (reading.value, reading.reason) == (value, reason)
