"""Errors meant for people: the CLI prints the message on one line and exits with code 2."""


class FerlabError(Exception):
    """A problem with the user's input (a path, a file, a name), described in one line."""

    exit_code = 2
