"""codecbench: evaluation and benchmarking harness for neural audio codecs, per language."""

__version__ = "0.1.0"
