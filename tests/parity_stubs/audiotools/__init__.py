"""Stand-in for descript-audiotools in the parity tests only (see ../README.md)."""

from . import core, ml  # noqa: F401 (dac reads audiotools.ml, audiotools.core)


class AudioSignal:  # dac's file/loudness helpers, never called by the parity tests
    pass


class STFTParams:
    pass
