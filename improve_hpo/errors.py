"""Errors that end a command with a message for the user instead of a traceback.

The CLI maps each class to an exit code; everything else that escapes is a bug in this package.
"""


class UsageError(Exception):
    """The user's input (a file, a flag, a folder) is wrong. Exit code 2, nothing started.

    `messages` holds one or more complete lines, each naming the file or flag and what to do.
    """

    exit_code = 2

    def __init__(self, *messages: str):
        if not messages:
            raise ValueError("UsageError needs at least one message")
        super().__init__("\n".join(messages))
        self.messages = list(messages)


class SpaceError(UsageError):
    """A hyperparameter file is invalid; `messages` lists every problem found, not just the first."""


class TooManyFailures(Exception):
    """The experiment reached --max-failures failed trials. Exit code 3; finished trials are kept."""

    exit_code = 3
