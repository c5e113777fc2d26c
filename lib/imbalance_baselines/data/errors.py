"""The one error type of the data layer."""

from __future__ import annotations


class DatasetError(ValueError):
    """Bad dataset input: a missing or corrupted file, an impossible profile, a malformed annotation.

    The message names the offending path or field, what was expected, and how to fix it.
    """
