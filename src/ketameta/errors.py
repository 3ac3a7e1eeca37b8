"""The error every check raises: a problem located in an input file or the configuration.

Only the standard library is imported here, so that the workflow can name a problem without
loading the statistics stack.
"""

from __future__ import annotations

import errno


class DataError(Exception):
    """A malformed input file or configuration, located for the analyst.

    Parameters
    ----------
    path : str
        The file, as the analyst names it (e.g. ``data/raw/trd.csv``).
    message : str
        What is wrong and what would be right, e.g. ``must be greater than 0 (got -4)``.
    line : int, optional
        Physical line in the file, the header being line 1.
    column : str, optional
        Column name (CSV files).
    key : str, optional
        Dotted key (configuration), e.g. ``analyses.trd_24h.method``.

    Notes
    -----
    ``str(error)`` is the one-line message of section 1 of docs/contract.md:
    ``"{path}, line {line}, column {column}: {message}"`` or ``"{path}, {key}: {message}"``,
    leaving out the parts not given.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        key: str | None = None,
    ):
        self.path = str(path)
        self.message = message
        self.line = line
        self.column = column
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.path]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.key is not None:
            where.append(self.key)
        return f"{', '.join(where)}: {self.message}"

    def __reduce__(self):
        return (_rebuild_error, (self.path, self.message, self.line, self.column, self.key))


def _rebuild_error(path, message, line, column, key):
    return DataError(path, message, line=line, column=column, key=key)


def _reason(error: BaseException) -> str:
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == 40:
        return "a loop of links"
    if isinstance(error, FileNotFoundError):
        return "its target does not exist"
    if isinstance(error, PermissionError):
        return "permission denied"
    if getattr(error, "errno", None) == errno.ENOSPC:
        return "no space left on the device"
    if getattr(error, "errno", None) == errno.EROFS:
        return "the file system is read-only"
    return getattr(error, "strerror", None) or str(error)
