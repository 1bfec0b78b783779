"""pandas.read_csv that reads floats exactly as the engine wrote them.

The engine writes each float as Python's repr (the shortest string that reads back to the same
number). pandas' fast parser before 3.1 is not exact: it reads some of those strings one unit in
the last place off (0.38336888078551823 as 0.3833688807855182), so a test that compares a CSV
value with best.json or the ledger would fail for some seeds only; float_precision="round_trip"
parses with Python's own float(). pandas 3.1 parses exactly by default and deprecates the
argument, so it is passed only where the default parser is found inexact.
"""

import io
from functools import partial

import pandas as pd

PROBE = 0.38336888078551823  # one of the strings the fast parser reads one unit off


def _default_is_exact() -> bool:
    return pd.read_csv(io.StringIO(f"x\n{PROBE!r}\n"))["x"][0] == PROBE


read_csv = pd.read_csv if _default_is_exact() else partial(pd.read_csv,
                                                           float_precision="round_trip")
