"""Parity with a codec's own reference implementation, for adapter authors (``codecbench.testing``).

``check_parity(codec, reference_fn)`` runs the adapter (one padded batch per input rate, through
``Codec.reconstruct``) and ``reference_fn`` (one item at a time, at the codec's native rate) on the same
inputs, and compares what a user's numbers depend on:

* codes: per level, exactly (``codes="exact"``). Where the reference reports its quantizer's distance
  gaps (``ReferenceOutput.margins``) and ``tie_rtol`` > 0, a frame may differ from the first level at
  which the reference's gap is below ``tie_rtol`` (two implementations that round differently can
  resolve a near tie differently; in a residual quantizer every deeper level then differs too).
  A reference's codes that collapse onto a few entries (random weights!) would make the comparison
  vacuous, so each level must take at least min(``min_distinct``, frames / 2) values;
* waveforms: max |adapter - reference| <= ``wave_rtol`` x the reference's peak, on the whole item
  (where codes differ at near ties: the adapter decoding the reference's codes);
* bits (where the reference returns them): equal.

Inputs at another rate than the codec's (``signals`` with a 16 kHz entry, say) are resampled with
``codecbench.audio.resample`` for the reference too, so the comparison isolates the model path; the
resampler itself is documented per codec (docs/codecs.md). ``check_tail(codec, ...)`` is the companion
check that appending silence to an input changes nothing of the input's span except its last
``edge`` samples.

The figures measured (share of equal codes, first differing frame, max difference, SNR) are returned
whether or not they pass, so a test can print the table it enforces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codecbench import audio
from codecbench.codecs.base import Codec


@dataclass
class ReferenceOutput:
    """What the reference implementation gives for one item at the native rate."""

    wave: np.ndarray  # [T'] (cropped or padded to the input length by check_parity)
    codes: list[np.ndarray] | None = None  # per level, [F_level]
    bits: float | None = None  # payload bits where the reference defines them (e.g. a file format)
    # per level, per frame: (second-nearest - nearest squared distance) / |input|^2 of the reference's
    # quantizer, where known; lets check_parity accept a code that differs at a near tie
    margins: list[np.ndarray] | None = None


@dataclass
class ParityCase:
    label: str
    sample_rate: int
    samples: int
    equal_codes: list[float] = field(default_factory=list)  # share of equal codes, per level
    ties: int = 0  # frames whose codes differ only from a near tie on (accepted)
    first_diff: int | None = None  # first frame (finest level) whose codes differ
    distinct: list[int] = field(default_factory=list)  # distinct reference codes, per level
    max_diff: float = 0.0  # max |adapter - reference| / reference peak
    snr_db: float = math.inf  # reference vs adapter
    bits: tuple[float | None, float | None] = (None, None)  # (adapter, reference)


@dataclass
class ParityReport:
    name: str
    cases: list[ParityCase] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [f"{self.name}: input, equal codes (min over levels), near ties, first differing frame, "
                "max diff / peak, SNR dB"]
        for c in self.cases:
            eq = min(c.equal_codes) if c.equal_codes else float("nan")
            rows.append(f"  {c.label:<14} {eq:7.2%} {c.ties:4d}  {c.first_diff!s:>6}  {c.max_diff:9.2e}  {c.snr_db:7.1f}")
        return "\n".join(rows)


Reference = Callable[[np.ndarray], ReferenceOutput]  # native-rate wave [T] -> ReferenceOutput


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise)


def _run_adapter(codec: Codec, waves: list[np.ndarray], sr: int):
    batch, lengths = audio.pad_batch(waves)
    return codec.reconstruct(batch, lengths, sr)


def _reference_at(reference_fn: Reference, wave: np.ndarray, sr: int, native: int) -> ReferenceOutput:
    x = audio.resample(wave, sr, native)
    out = reference_fn(np.ascontiguousarray(x, dtype=np.float32))
    y = audio.fit_length(np.asarray(out.wave, dtype=np.float32), len(x))
    y = audio.fit_length(audio.resample(y, native, sr), len(wave))
    return ReferenceOutput(wave=y, codes=out.codes, bits=out.bits, margins=out.margins)


def check_parity(codec: Codec, reference_fn: Reference, signals: dict[str, tuple[np.ndarray, int]], *,
                 codes: str = "exact", wave_rtol: float = 1e-4, min_distinct: int = 4, tie_rtol: float = 0.0,
                 raise_on_problems: bool = True) -> ParityReport:
    """Compare ``codec`` with ``reference_fn`` on ``signals`` ({label: (wave, sample_rate)}).

    ``codes``: "exact" (every code equal), or "none" (continuous codecs). ``wave_rtol``: the stated
    bound on max |adapter - reference| relative to the reference's peak; choose it from the algorithm:
    the default 1e-4 is ``codecbench.testing.FLOAT32_NETWORK_RTOL`` (float32 rounding of the same
    operations in another order); a different computation needs a documented variant, not a looser bound."""
    rep = ParityReport(codec.info.name)
    p = rep.problems
    native = codec.info.sample_rate
    by_rate: dict[int, list[str]] = {}
    for label, (_, sr) in signals.items():
        by_rate.setdefault(sr, []).append(label)
    for sr, labels in by_rate.items():
        waves = [np.asarray(signals[k][0], dtype=np.float32) for k in labels]
        rec = _run_adapter(codec, waves, sr)
        for b, (label, w) in enumerate(zip(labels, waves, strict=True)):
            ref = _reference_at(reference_fn, w, sr, native)
            case = ParityCase(label, sr, len(w))
            rep.cases.append(case)
            if codes == "exact":
                _compare_codes(case, rec.codes[b] if rec.codes else None, ref, min_distinct, tie_rtol, p)
            got = rec.item(b) if not case.ties else _decode_reference_codes(codec, ref.codes, w, sr)
            peak = float(np.abs(ref.wave).max()) or 1.0
            case.max_diff = float(np.abs(got - ref.wave).max()) / peak
            case.snr_db = snr_db(ref.wave, got)
            if not case.max_diff <= wave_rtol:
                p.append(f"{label}: waveform differs by {case.max_diff:.3g} x peak (> {wave_rtol:g}), SNR {case.snr_db:.1f} dB")
            if ref.bits is not None:
                mine = None if rec.bits is None else float(rec.bits[b])
                case.bits = (mine, float(ref.bits))
                if mine != float(ref.bits):
                    p.append(f"{label}: {mine} payload bits, the reference has {ref.bits}")
    if p and raise_on_problems:
        raise AssertionError(f"check_parity({rep.name}):\n  " + "\n  ".join(p) + "\n" + rep.table())
    return rep


def _decode_reference_codes(codec: Codec, codes: list[np.ndarray], wave: np.ndarray, sr: int) -> np.ndarray:
    """The adapter's decoder on the reference's codes (codecs whose decoder needs only codes)."""
    from codecbench.types import Encoded

    native = np.array([len(audio.resample(wave, sr, codec.info.sample_rate))])
    enc = Encoded(codes=[np.asarray(c)[None] for c in codes], frames=[np.array([len(c)]) for c in codes])
    return codec.decode(enc, native, np.array([len(wave)]), sr)[0]


def _compare_codes(case: ParityCase, got: list[np.ndarray] | None, ref: ReferenceOutput, min_distinct: int,
                   tie_rtol: float, p: list[str]) -> None:
    want = ref.codes
    if got is None or want is None:
        p.append(f"{case.label}: codes missing ({'adapter' if got is None else 'reference'})")
        return
    if len(got) != len(want):
        p.append(f"{case.label}: {len(got)} code levels, the reference has {len(want)}")
        return
    got, want = [np.asarray(g).ravel() for g in got], [np.asarray(w).ravel() for w in want]
    for k, w in enumerate(want):
        case.distinct.append(int(len(np.unique(w))))
        need = min(min_distinct, max(1, len(w) // 2))
        if case.distinct[-1] < need:
            p.append(f"{case.label}: reference level {k} uses {case.distinct[-1]} distinct codes in {len(w)} frames "
                     f"(< {need}): calibrate the codebooks, or the comparison proves little")
    if [len(g) for g in got] != [len(w) for w in want]:
        p.append(f"{case.label}: frames per level {[len(g) for g in got]}, the reference has {[len(w) for w in want]}")
        case.equal_codes = [0.0] * len(want)
        return
    diff = [g != w for g, w in zip(got, want, strict=True)]
    case.equal_codes = [float(1 - d.mean()) if len(d) else 1.0 for d in diff]
    residual = len({len(w) for w in want}) == 1
    if residual and len(want) and len(want[0]):
        d = np.stack(diff)
        first = d.cumsum(0) == 1
        judged = list(d & first)  # the first differing level of each frame
    else:
        judged = diff
    for k, d in enumerate(judged):
        idx = np.flatnonzero(d)
        if not len(idx):
            continue
        tie = ref.margins is not None and tie_rtol > 0
        near = idx[np.asarray(ref.margins[k])[idx] < tie_rtol] if tie else idx[:0]
        bad = np.setdiff1d(idx, near)
        case.ties += len(near)
        if len(bad):
            case.first_diff = int(bad[0]) if case.first_diff is None else min(case.first_diff, int(bad[0]))
            gap = "" if not tie else f", reference gap {float(np.asarray(ref.margins[k])[bad[0]]):.2g} >= {tie_rtol:g}"
            p.append(f"{case.label}: level {k} codes differ at {len(bad)} of {len(d)} frames (first {int(bad[0])}{gap})")


@dataclass
class TailReport:
    name: str
    max_diff: float = 0.0  # before the edge, / peak, over items whose codes agree there
    flips: int = 0  # codes that differ before the edge (near ties resolved by rounding), all items
    edge_snr_db: list[float] = field(default_factory=list)  # inside the edge, per input


def check_tail(codec: Codec, waves: list[np.ndarray], sr: int, *, silence: float = 1.0,
               edge: Callable[[int], int], wave_rtol: float = 1e-4, max_flip_share: float = 0.02) -> TailReport:
    """Reconstructions of ``x`` and of ``x`` followed by ``silence`` seconds of zeros agree on ``x``'s
    span, except its last ``edge(len(x))`` samples, within ``wave_rtol`` x the peak.

    Codes of the frames before the edge must agree too, except that up to ``max_flip_share`` of them may
    flip: the two runs use tensors of different lengths, whose kernels round differently, and that
    decides near ties (as in ``check_codec``); an item with such flips is not held to the wave bound."""
    rep = TailReport(codec.info.name)
    problems = []
    pad = int(silence * sr)
    plain = _run_adapter(codec, waves, sr)
    longer = _run_adapter(codec, [np.concatenate([w, np.zeros(pad, np.float32)]) for w in waves], sr)
    for b, w in enumerate(waves):
        n = len(w)
        a, z = plain.item(b), longer.item(b)[:n]
        keep = max(0, n - int(edge(n)))
        flips = frames = 0
        for lvl, ca, cz in zip(codec.info.codebooks, plain.codes[b] if plain.codes else [],
                               longer.codes[b] if longer.codes else [], strict=False):
            m = int(keep * lvl.frame_rate / sr)  # frames that end before the edge
            flips += int(np.sum(ca[:m] != cz[:m]))
            frames += m
        rep.flips += flips
        if flips > max(1.0, max_flip_share * frames):
            problems.append(f"item {b} ({n} samples): {flips} of {frames} codes before the edge differ")
        peak = float(np.abs(a).max()) or 1.0
        d = float(np.abs(a[:keep] - z[:keep]).max(initial=0.0)) / peak
        rep.edge_snr_db.append(snr_db(a[keep:], z[keep:]) if keep < n else math.inf)
        if flips:
            continue
        rep.max_diff = max(rep.max_diff, d)
        if not d <= wave_rtol:
            first = int(np.flatnonzero(np.abs(a - z) > wave_rtol * peak)[0])
            problems.append(f"item {b} ({n} samples): x and x+silence differ by {d:.3g} x peak before the last "
                            f"{n - keep} samples (from sample {first}, {n - first} before the end)")
    if problems:
        raise AssertionError(f"check_tail({rep.name}):\n  " + "\n  ".join(problems))
    return rep
