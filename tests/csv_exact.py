"""pandas.read_csv that reads floats exactly as the engine wrote them.

The engine writes each float as Python's repr (the shortest string that reads back to the same
number). pandas' default parser is fast but not exact: it reads some of those strings one unit
in the last place off (0.38336888078551823 as 0.3833688807855182), so a test that compares a
CSV value with best.json or the ledger would fail for some seeds only. float_precision=
"round_trip" parses with Python's own float().
"""

from functools import partial

import pandas as pd

read_csv = partial(pd.read_csv, float_precision="round_trip")
