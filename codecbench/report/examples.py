"""The report's audio examples: players (16-bit WAV data URIs), spectrogram thumbnails and each clip's scores.

Thumbnails are log-magnitude STFT spectrograms (25 ms Hann window, 10 ms hop, 0-8 kHz, 80 dB range
below the clip's peak), drawn at a common colour scale so that clips of one utterance compare by eye.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codecbench.report.cells import value_text
from codecbench.report.tables import Board

MAX_EMBEDDED_AUDIO_BYTES = 3_000_000  # per file; larger examples are listed, not embedded
THUMB_MAX_HZ = 8000.0


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class Example:
    lang: str
    utt_id: str
    text: str
    reference: Path | None
    recon: dict[str, Path]  # codec label -> saved reconstruction
    scores: dict[str, dict[str, str]] = field(default_factory=dict)  # codec label -> metric -> text


def choose_examples(board: Board, per_lang: int) -> list[Example]:
    """Per language, the utterances with saved reconstructions for the most codecs (ties: by id)."""
    if per_lang <= 0:
        return []
    found: dict[tuple[str, str], Example] = {}
    shown = board.headline()
    for run in board.runs:
        rows = run.rows()
        if "audio" not in rows.columns:
            continue
        labels = {ci["codec"]: lab for lab, ci in board.codec_info.items() if ci["run"] == run.name}
        utts = run.utterances
        for rec in rows[rows["audio"].fillna("").astype(str) != ""].to_dict("records"):
            path = run.audio_file(str(rec["audio"]))
            label = labels.get(rec["codec"])
            if path is None or label is None or str(rec["lang"]) not in board.langs:
                continue
            key = (str(rec["lang"]), str(rec["utt_id"]))
            ex = found.get(key)
            if ex is None:
                u = utts.get(rec["utt_id"], {})
                ex = found[key] = Example(key[0], key[1], str(u.get("text") or ""), run.reference_file(key[1]), {})
            ex.recon[label] = path
            ex.scores[label] = {m: _row_score(board, rec, m) for m in shown if m in rec}
    out = []
    for lang in board.langs:
        cands = sorted((ex for (lg, _), ex in found.items() if lg == lang), key=lambda x: (-len(x.recon), x.utt_id))
        out += cands[:per_lang]
    return out


def _row_score(board: Board, rec: dict, metric: str) -> str:
    v = rec.get(metric)
    kind = str(rec.get(metric + "__kind") or "") or ("failed" if rec.get(metric + "__failure") else "")
    if kind or v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return kind.replace("not_applicable", "n/a") or "–"
    return value_text(float(v), None, None, 1, board.metric_info.get(metric, {}).get("unit"))


def _wav_data_uri(wave: np.ndarray, sr: int) -> str | None:
    """16-bit PCM WAV data URI of the wave (float files are converted: half the size), None if too large."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(wave, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    data = buf.getvalue()
    if len(data) > MAX_EMBEDDED_AUDIO_BYTES:
        return None
    return "data:audio/wav;base64," + base64.b64encode(data).decode("ascii")


def spectrogram_png(wave: np.ndarray, sr: int, width_px: int = 220, height_px: int = 70) -> str:
    """A small spectrogram as a PNG data URI (see the module docstring for the analysis)."""
    from codecbench.report.plots import _pyplot

    plt = _pyplot()
    win, hop = max(16, int(0.025 * sr)), max(1, int(0.010 * sr))
    x = np.asarray(wave, dtype=np.float64)
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop] * np.hanning(win)
    mag = np.abs(np.fft.rfft(frames, axis=1)).T
    freqs = np.fft.rfftfreq(win, 1.0 / sr)
    mag = mag[freqs <= THUMB_MAX_HZ]
    db = 20 * np.log10(mag + 1e-10)
    db = np.clip(db - db.max(), -80.0, 0.0)
    fig = plt.figure(figsize=(width_px / 100, height_px / 100), dpi=200)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0, interpolation="nearest")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def clip_html(path: Path | None, scores: dict[str, str] | None = None) -> str:
    """Player, spectrogram thumbnail and the clip's scores."""
    if path is None:
        return '<span class="meta">not saved</span>'
    from codecbench import audio

    wave, sr = audio.load(path)
    uri = _wav_data_uri(wave, sr)
    player = (f'<audio controls preload="none" src="{uri}"></audio>' if uri
              else f'<span class="meta">too large to embed: {e(path.name)}</span>')
    spec = f'<img class="spec" alt="spectrogram" src="{spectrogram_png(wave, sr)}">'
    score = ""
    if scores:
        score = '<div class="clip-scores">' + " · ".join(f"{e(k)} {e(v)}" for k, v in scores.items()) + "</div>"
    return f'<div class="clip">{spec}{player}{score}</div>'


def examples_section(board: Board, examples: list[Example]) -> str:
    if not examples:
        return '<p class="meta">No saved reconstructions in the run(s) (run with --save-audio N).</p>'
    parts = []
    for lang in board.langs:
        exs = [x for x in examples if x.lang == lang]
        if not exs:
            continue
        head = "<th>codec</th>" + "".join(
            f'<th>{e(x.utt_id)}<div class="utt-text">{e(x.text)}</div></th>' for x in exs)
        rows = ["<tr><td>reference</td>" + "".join(f"<td>{clip_html(x.reference)}</td>" for x in exs) + "</tr>"]
        for codec in board.codecs:
            if not any(codec in x.recon for x in exs):
                continue
            rows.append(f'<tr><td class="codec">{e(codec)}</td>' + "".join(
                f"<td>{clip_html(x.recon.get(codec), x.scores.get(codec))}</td>" for x in exs) + "</tr>")
        parts.append(f'<h3 lang="{e(lang)}">{e(lang)}</h3><table class="examples"><thead><tr>{head}</tr></thead>'
                     f"<tbody>{''.join(rows)}</tbody></table>")
    return "".join(parts)

