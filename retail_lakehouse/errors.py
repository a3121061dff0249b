"""The lakehouse's own errors: each carries a one-line message that says what is wrong and where.

The command line prints `error: <message>` for these and exits non-zero instead of showing a traceback.
"""


class LakehouseError(Exception):
    """Base class of every error the lakehouse reports to a person as one line."""


class StorageError(LakehouseError):
    """A table or partition is missing, unreadable, or cannot be written."""


class LandingFileError(LakehouseError):
    """A landing (point-of-sale export) file is malformed or has the wrong columns."""
