"""`improve-hpo check-def model.def`: the curator's checklist for a definition file.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 the file could not be
read (UsageError, printed by the CLI).
"""

from __future__ import annotations

import json

from improve_hpo.curator.check_def import check_definition
from improve_hpo.curator.recipe_scan import read_definition
from improve_hpo.errors import UsageError
from improve_hpo.runner.settings import DEFAULT_MOUNT_POINT


def register(subparsers):
    parser = subparsers.add_parser(
        "check-def",
        help="check a Singularity/Apptainer definition file for improve-hpo",
        description="Check a model's definition file: Bootstrap/From header, preprocess.sh, "
        "train.sh and infer.sh installed on PATH and executable, the data mount point, a GPU "
        "base image, and its sections. Exit 0: passed (warnings allowed); 1: a check failed; "
        "2: the file could not be read.",
    )
    parser.add_argument("definition", metavar="DEF_FILE", help="the definition (.def) file")
    parser.add_argument("--data-mount", metavar="PATH", default=DEFAULT_MOUNT_POINT,
                        help="the mount point %%post must create (default: %(default)s; "
                        "older images use /candle_data_dir)")
    parser.add_argument("--json", action="store_true",
                        help="print the checks as one JSON object instead of lines")


def run(args) -> int:
    if not args.data_mount.startswith("/"):
        raise UsageError(f"--data-mount {args.data_mount}: give the absolute path of the mount "
                         "point inside the container, e.g. /IMPROVE_DATA_DIR")
    definition = read_definition(args.definition)
    results = check_definition(definition, args.data_mount)
    failed = any(result.status == "FAIL" for result in results)
    if args.json:
        print(json.dumps({
            "file": str(definition.path),
            "passed": not failed,
            "unknown": sum(r.status == "UNKNOWN" for r in results),
            "checks": [{"status": r.status, "check": r.check, "message": r.message,
                        "lines": list(r.lines)} for r in results],
        }, indent=2))
    else:
        for result in results:
            print(result.render())
        unknown = sum(result.status == "UNKNOWN" for result in results)
        print(f"{definition.path}: " + ("failed" if failed else "passed")
              + (f"; {unknown} check(s) UNKNOWN: the file alone cannot tell, check those by hand"
                 if unknown else ""))
    return 1 if failed else 0
