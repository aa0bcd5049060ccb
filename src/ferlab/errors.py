"""Errors meant for people: the CLI prints the message on one line and exits with code 2."""


class FerlabError(Exception):
    """A problem with the user's input (a path, a file, a name), described in one line."""

    exit_code = 2


class OutputError(FerlabError):
    """An output could not be written (disk full, permission, a vanished folder): what was written
    before is kept and a run can continue with --resume. Exit code 3, apart from "some inputs
    failed" (1) and "bad arguments" (2)."""

    exit_code = 3
