"""codecbench: evaluation and benchmarking harness for neural audio codecs, per language."""

__version__ = "0.1.0"


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (a missing parent package counts as missing)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
