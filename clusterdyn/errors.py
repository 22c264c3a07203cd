"""Errors reported by the command line as one line (exit status 2), without a traceback."""


class UsageError(ValueError):
    """A bad command-line argument or option combination."""
