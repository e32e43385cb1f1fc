"""Where an utterance's audio is when it is not a whole file at ``Utterance.path``: ``Utterance.source``.

Two kinds, both plain dicts (they travel to worker processes and into ``dataset.json``):

* a **segment** of the file at ``path`` (Lhotse cuts and supervisions):
  ``{"offset": s, "duration": s, "channels": [k, ...] or None}``. Samples ``round(offset * sr)`` to
  ``+ round(duration * sr)``, Lhotse's own rounding (``compute_num_samples``). WAV, FLAC and AIFF
  are read with a seek (exact for these lossless formats); any other format is decoded whole and
  sliced, so a segment holds exactly the samples a whole-file read gives there. ``channels`` picks
  the recording's channels before the mono mix (None: all of them, as for a file).
* a **row of an Arrow file** (🤗 datasets: ``save_to_disk`` folders, the prepared hub cache):
  ``{"arrow": file, "row": i, "column": name}``: the encoded bytes stored in that cell (or the file
  its ``path`` names when it holds none), decoded by soundfile, never by torchaudio or torchcodec
  (``datasets``' own decoder), so a clip gives the same samples as the same file in a manifest.

``info`` reads what the plan needs (rate, duration) from headers; ``read`` gives ``[channels, T]``
float32 and the rate, for the input gate (``codecbench.inputs.check_channels``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from codecbench import audio
from codecbench.types import Utterance

SEEKABLE = ("WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64", "CAF")
# A segment may end this far past the end of its file (Lhotse rounds durations) before it is an error.
END_TOLERANCE_S = 0.025

_TABLES: dict[str, Any] = {}  # Arrow file -> its memory-mapped table, once per process


def segment(offset: float, duration: float, channels: list[int] | None = None) -> dict[str, Any]:
    return {"offset": float(offset), "duration": float(duration), "channels": channels}


def arrow_row(file: str, row: int, column: str) -> dict[str, Any]:
    return {"arrow": str(file), "row": int(row), "column": column}


def info(u: Utterance) -> tuple[int, float]:
    """(sample rate, duration in seconds) of the utterance's audio, from headers."""
    src = u.source or {}
    if "arrow" in src:
        data, path = _cell(src)
        if data is None:
            return audio.info(path)
        import soundfile as sf

        i = sf.info(io.BytesIO(data))
        return int(i.samplerate), float(i.frames) / float(i.samplerate)
    sr, _ = audio.info(_file(u))
    return sr, _n(src["duration"], sr) / sr


def read(u: Utterance) -> tuple[np.ndarray, int]:
    """``[channels, T]`` float32 and the rate; ``audio.AudioError`` with the reason when unreadable."""
    src = u.source or {}
    if "arrow" in src:
        data, path = _cell(src)
        if data is None:
            return _checked_file(path)
        return _decode(data, f"{Path(src['arrow']).name} row {src['row']}")
    return _read_segment(_file(u), src)


def _file(u: Utterance) -> str:
    if not u.path:
        raise audio.AudioError(f"utterance {u.id}: a segment without a file")
    return u.path


def _n(seconds: float, sr: int) -> int:
    return int(round(float(seconds) * sr))


def _checked_file(path: str) -> tuple[np.ndarray, int]:
    from codecbench.inputs import read_channels

    return read_channels(path)


def _decode(data: bytes, name: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        wave, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, ...
        raise audio.AudioError(f"cannot decode {name}: {exc}") from exc
    return np.ascontiguousarray(wave.T), int(sr)


def _read_segment(path: str, src: dict[str, Any]) -> tuple[np.ndarray, int]:
    import soundfile as sf

    from codecbench.inputs import read_channels, wav_truncation
    from codecbench.safe_io import path_problem

    problem = path_problem(path) or wav_truncation(path)
    if problem:
        raise audio.AudioError(problem)
    try:
        head = sf.info(path)
    except Exception:
        head = None
    if head is not None and head.format in SEEKABLE:
        sr = int(head.samplerate)
        start, n = _n(src["offset"], sr), _n(src["duration"], sr)
        try:
            wave, _ = sf.read(path, start=start, stop=start + n, dtype="float32", always_2d=True)
        except Exception as exc:
            raise audio.AudioError(f"cannot decode {Path(path).name}: {exc}") from exc
        channels, total = wave.T, head.frames
    else:
        whole, sr = read_channels(path)
        start, n = _n(src["offset"], sr), _n(src["duration"], sr)
        channels, total = whole[:, start:start + n], whole.shape[1]
    if start + n > total + _n(END_TOLERANCE_S, sr):
        raise audio.AudioError(f"segment {src['offset']:.3f}-{src['offset'] + src['duration']:.3f} s ends past the end "
                               f"of {Path(path).name} ({total / sr:.3f} s)")
    picked = src.get("channels")
    if picked is not None:
        if max(picked) >= len(channels):
            raise audio.AudioError(f"channel {max(picked)} asked of {Path(path).name}, which has {len(channels)}")
        channels = channels[list(picked)]
    return np.ascontiguousarray(channels, dtype=np.float32), sr


def _cell(src: dict[str, Any]) -> tuple[bytes | None, str]:
    """The encoded bytes of an Arrow cell, or (None, the file it names)."""
    file = src["arrow"]
    table = _TABLES.get(file)
    if table is None:
        import pyarrow as pa

        from codecbench.safe_io import path_problem

        problem = path_problem(file)
        if problem:
            raise audio.AudioError(problem)
        try:
            table = pa.ipc.open_stream(pa.memory_map(file)).read_all()
        except (OSError, pa.ArrowInvalid) as exc:
            raise audio.AudioError(f"cannot read the Arrow file {file}: {exc}") from exc
        _TABLES[file] = table
    cell = table.column(src["column"])[int(src["row"])].as_py() or {}
    if cell.get("bytes"):
        return cell["bytes"], ""
    if not cell.get("path"):
        raise audio.AudioError(f"{Path(file).name} row {src['row']}: the {src['column']!r} cell holds no audio")
    return None, cell["path"]
