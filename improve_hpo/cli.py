"""The `improve-hpo` command line: parses the subcommand and maps errors to exit codes.

Each subcommand lives in its own module under `improve_hpo.commands` with two functions:
`register(subparsers)` adds its parser, `run(args) -> int` does the work. This module only
dispatches, so that a user's mistake (UsageError) always ends as one clear message and exit
code 2, and never as a traceback.

`improve-hpo --space hp.json ...` without a subcommand means `improve-hpo run ...`: that is the
form curators know from `mpirun improve-hpo --space hp.json --sif model.sif`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sqlite3
import sys

from improve_hpo import __version__
from improve_hpo.errors import (StorageFault, TooManyFailures, UsageError, storage_fault,
                                 storage_fault_message)

# Subcommand name -> module under improve_hpo.commands, in the order `--help` lists them.
COMMANDS = {
    "run": "run",
    "validate": "validate",
    "check-def": "check_def",
    "check-model": "check_model",
    "report": "report",
    "status": "status",
}
DEFAULT_COMMAND = "run"


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on a bad flag already; this keeps its message but names the program."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="improve-hpo",
        description="Genetic-algorithm hyperparameter optimization for IMPROVE models. "
        "Without a subcommand, the arguments are those of `run`.",
    )
    parser.add_argument("--version", action="version", version=f"improve-hpo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMANDS.values():
        importlib.import_module(f"improve_hpo.commands.{module_name}").register(subparsers)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """Insert `run` when the first argument is an option other than --help/--version."""
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        return [DEFAULT_COMMAND, *argv]
    return argv


def _exit_on_early_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    """SIGINT/SIGTERM before a command installs its own handlers (while modules import, say):
    nothing has started, so end at once with 128 + signal, without a traceback."""
    os.write(2, f"improve-hpo: stopped by {signal.Signals(signum).name} while starting; "
                "nothing was started\n".encode())
    os._exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_on_early_signal)
    argv = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    try:
        return _main(argv)
    finally:  # a caller that runs main() in its own process (tests) gets Python's handling back
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"improve_hpo.commands.{COMMANDS[args.command]}")
    try:
        code = module.run(args)
        sys.stdout.flush()  # inside the try: a closed pipe (`| head`) must not end in a traceback
        return code
    except BrokenPipeError:
        # The reader went away; what it wanted was printed. Point stdout at /dev/null so the
        # interpreter's final flush cannot raise again (the pattern the Python docs give).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (OSError, sqlite3.Error) as error:
        fault = storage_fault(error)
        if fault is None:
            raise
        return _report(args.command, StorageFault(storage_fault_message(fault)))
    except UsageError as error:
        return _report(args.command, error)
    except TooManyFailures as error:
        print(f"improve-hpo {args.command}: stopped: {error}", file=sys.stderr, flush=True)
        return error.exit_code


def _report(command: str, error: UsageError) -> int:
    for line in error.messages:
        print(f"improve-hpo {command}: error: {line}", file=sys.stderr, flush=True)
    return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
