"""Errors raised while locating, reading or caching a data set.

Every message names the file (or folder) and the problem, so that a user can fix the data
without reading the code.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A data file is corrupt, truncated or holds values outside its format."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A data set's files are not where they were looked for (nothing is ever downloaded)."""
