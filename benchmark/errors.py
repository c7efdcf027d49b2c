"""Errors meant for the user: the CLI prints their message (which names the file or field and the fix)
and exits with status 2 instead of a traceback."""


class DfclError(Exception):
    """Bad input or a refused request, explained in the message."""


class ConfigError(DfclError):
    """A config file, YAML field or command-line value is invalid."""


class DataError(DfclError):
    """A dataset on disk is missing, empty, unreadable or not in the expected layout."""


class ResultError(DfclError):
    """A result file is invalid, or writing one would silently replace a finished run."""
