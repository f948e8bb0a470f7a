"""The one exception base for every error the ``evoforge`` command reports.

An `EvoforgeError` is bad input or a run directory that cannot be used: the
command prints its message on one line (it names the file or field and what
is wrong) and exits with status 2, without a traceback. Anything else that
escapes is a bug and keeps its traceback.

Example:
    >>> from evoforge.config import ConfigError
    >>> issubclass(ConfigError, EvoforgeError), issubclass(RunDirError, EvoforgeError)
    (True, True)
    >>> str(RunDirError("runs/x: no such run directory"))
    'runs/x: no such run directory'
"""

from __future__ import annotations


class EvoforgeError(Exception):
    """Base of the errors the CLI reports as one line with exit status 2."""


class RunDirError(EvoforgeError):
    """The run directory cannot be used (not empty, missing, not a run,
    locked by another process, unwritable, or its config changed)."""
