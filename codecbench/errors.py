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


class ConfigError(CodecbenchError):
    """A config file or option the user must fix (the message names the key and the valid choices), or a
    run folder that holds another configuration."""


class Unavailable(CodecbenchError):
    """Something needed is not here: a package, a model, a library or Ray. The message says how to get it.

    Raised by a metric (inside ``compute``) it is recorded as a failure of kind ``unavailable``: not a
    completed value, so a later run with the model present computes it. Raised anywhere else it stops
    the command with one line (exit status 2).
    """
