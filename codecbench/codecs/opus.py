"""Opus (libopus through ctypes): the classical anchor, real encode and decode in-process.

Each utterance gets a fresh encoder and decoder (so batching cannot leak state between items),
20 ms frames at 48 kHz, constrained VBR off (plain VBR, libopus default), complexity 10. The
encoder's lookahead is compensated explicitly: the input is padded by the lookahead and the first
``lookahead`` decoded samples are dropped, so output sample n lines up with input sample n.
The measured bitrate counts the real packet bytes (no Ogg container overhead).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

from codecbench.codecs.base import Codec, CodecError, CodecUnavailable
from codecbench.types import CodecInfo, Encoded

SAMPLE_RATE = 48000
FRAME = 960  # 20 ms at 48 kHz
MAX_PACKET = 4000
APPLICATIONS = {"voip": 2048, "audio": 2049}
_SET_BITRATE, _SET_COMPLEXITY, _GET_LOOKAHEAD = 4002, 4010, 4027
INSTALL_HINT = "install libopus: apt-get install libopus0 (Debian/Ubuntu) or brew install opus"


@functools.lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("opus")
    if name is None:
        raise CodecUnavailable(f"libopus not found; {INSTALL_HINT}")
    lib = ctypes.CDLL(name)
    c_int_p = ctypes.POINTER(ctypes.c_int)
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, c_int_p]
    lib.opus_encoder_ctl.restype = ctypes.c_int
    lib.opus_encode_float.restype = ctypes.c_int
    lib.opus_encode_float.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int,
                                      ctypes.c_char_p, ctypes.c_int]
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int, ctypes.c_int, c_int_p]
    lib.opus_decode_float.restype = ctypes.c_int
    lib.opus_decode_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_float), ctypes.c_int, ctypes.c_int]
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_get_version_string.restype = ctypes.c_char_p
    return lib


def libopus_version() -> str:
    return _lib().opus_get_version_string().decode()


def _check_lib() -> str | None:
    try:
        _lib()
    except CodecUnavailable as exc:
        return str(exc)
    return None


def encode_packets(x: np.ndarray, bitrate: int, application: str) -> tuple[list[bytes], int]:
    """Encode mono 48 kHz float audio to Opus packets; returns (packets, encoder lookahead)."""
    lib = _lib()
    err = ctypes.c_int(0)
    enc = lib.opus_encoder_create(SAMPLE_RATE, 1, APPLICATIONS[application], ctypes.byref(err))
    if err.value != 0 or not enc:
        raise CodecError(f"opus_encoder_create failed ({err.value})")
    try:
        lib.opus_encoder_ctl(ctypes.c_void_p(enc), ctypes.c_int(_SET_BITRATE), ctypes.c_int(bitrate))
        lib.opus_encoder_ctl(ctypes.c_void_p(enc), ctypes.c_int(_SET_COMPLEXITY), ctypes.c_int(10))
        lookahead = ctypes.c_int(0)
        lib.opus_encoder_ctl(ctypes.c_void_p(enc), ctypes.c_int(_GET_LOOKAHEAD), ctypes.byref(lookahead))
        n = len(x) + lookahead.value
        padded = np.zeros(-(-n // FRAME) * FRAME, dtype=np.float32)
        padded[: len(x)] = x
        buf = ctypes.create_string_buffer(MAX_PACKET)
        packets = []
        for start in range(0, len(padded), FRAME):
            frame = np.ascontiguousarray(padded[start : start + FRAME])
            nbytes = lib.opus_encode_float(enc, frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), FRAME, buf, MAX_PACKET)
            if nbytes < 0:
                raise CodecError(f"opus_encode_float failed ({nbytes})")
            packets.append(buf.raw[:nbytes])
        return packets, lookahead.value
    finally:
        lib.opus_encoder_destroy(enc)


def decode_packets(packets: list[bytes]) -> np.ndarray:
    lib = _lib()
    err = ctypes.c_int(0)
    dec = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(err))
    if err.value != 0 or not dec:
        raise CodecError(f"opus_decoder_create failed ({err.value})")
    try:
        out = np.zeros(len(packets) * FRAME, dtype=np.float32)
        pcm = np.zeros(FRAME, dtype=np.float32)
        for i, p in enumerate(packets):
            n = lib.opus_decode_float(dec, p, len(p), pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), FRAME, 0)
            if n < 0:
                raise CodecError(f"opus_decode_float failed ({n})")
            out[i * FRAME : i * FRAME + n] = pcm[:n]
        return out
    finally:
        lib.opus_decoder_destroy(dec)


class OpusCodec(Codec):
    def __init__(self, info: CodecInfo, bitrate: int, application: str, device: str = "cpu"):
        super().__init__(info, "cpu")
        self.bitrate = bitrate
        self.application = application
        _lib()

    def encode_native(self, wave: np.ndarray, lengths: np.ndarray) -> Encoded:
        packets, lookaheads, bits = [], [], []
        for b, n in enumerate(lengths):
            p, la = encode_packets(wave[b, : int(n)], self.bitrate, self.application)
            packets.append(p)
            lookaheads.append(la)
            bits.append(8.0 * sum(len(x) for x in p))
        return Encoded(codes=None, frames=None, bits=np.array(bits), state=(packets, lookaheads))

    def decode_native(self, encoded: Encoded, lengths: np.ndarray) -> np.ndarray:
        packets, lookaheads = encoded.state
        out = np.zeros((len(lengths), int(max(lengths, default=0))), dtype=np.float32)
        for b, n in enumerate(lengths):
            y = decode_packets(packets[b])[lookaheads[b] : lookaheads[b] + int(n)]
            out[b, : len(y)] = y
        return out


BITRATES = (6000, 12000, 24000)


def _spec(bitrate: int, application: str):
    from codecbench.codecs.registry import CodecSpec

    suffix = "" if application == "voip" else "-audio"
    name = f"opus-{bitrate // 1000}kbps{suffix}"
    info = CodecInfo(
        name=name, family="opus", sample_rate=SAMPLE_RATE, channels=1, frame_rate=SAMPLE_RATE / FRAME,
        nominal_bitrate=float(bitrate), causal=True, streaming=True,
        description=f"libopus {application.upper()} application, {bitrate // 1000} kbps VBR, 20 ms frames",
    )
    return CodecSpec(info=info, load=lambda arg, device: OpusCodec(info, bitrate, application, device),
                     install_hint=INSTALL_HINT, check=_check_lib)


def specs():
    return [_spec(b, app) for app in ("voip", "audio") for b in BITRATES]
