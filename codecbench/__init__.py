"""codecbench: evaluation and benchmarking harness for neural audio codecs, per language."""

import os

__version__ = "0.1.0"


def cache_dir() -> str:
    """codecbench's cache folder: ``$CODECBENCH_CACHE``, default ``~/.cache/codecbench``."""
    return os.environ.get("CODECBENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "codecbench")


# Library caches go under ours, set before numba or matplotlib is imported: numba otherwise writes
# into the (possibly shared, read-only) venv, and matplotlib's config folder also makes the plots
# independent of a user's matplotlibrc. A value the user set wins.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(cache_dir(), "numba"))
os.environ.setdefault("MPLCONFIGDIR", os.path.join(cache_dir(), "matplotlib"))


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (a missing parent package counts as missing)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
