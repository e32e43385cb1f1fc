"""One base class for mistakes the user can fix (the CLI prints them as one line, exit status 2).

Anything else is a bug or an environment failure and keeps its traceback.
"""

from __future__ import annotations


class CodecbenchError(Exception):
    """A mistake in what the user asked for or gave us (names, paths, options, run folders)."""


class UnknownName(CodecbenchError, KeyError):
    """An unknown codec, metric, option or other registered name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
