"""Conformance checks for any codec or metric, built in or plugin (after torchmetrics' ``MetricTester``).

``check_codec(spec)`` and ``check_metric(metric)`` raise ``AssertionError`` listing every problem
found, and return what they measured. Third-party adapters can call them from their own tests.
``check_parity(codec, reference_fn, signals)`` and ``check_tail`` (``codecbench.parity``) compare an
adapter with its codec's own reference implementation.

Measurement decisions:

* Batched == single: a padded batch must give each item what it gives alone. Waves agree within
  ``wave_rtol`` x the batch's peak: another batch shape changes the kernels' summation order, and float32
  sums of n terms in another order differ by about sqrt(n) units of rounding u = 2^-24 (Higham & Mary's
  probabilistic bound), compounding over a network's layers in quadrature: sqrt(L * n) * u ~ 2e-5 for
  L ~ 30 layers of fan-in n ~ 4096 (the released EnCodec/DAC/SNAC/Mimi shapes), so ``FLOAT32_NETWORK_RTOL``
  = 1e-4 holds on any CPU (measured <= 1e-6 with AVX-512, AVX2 and SSE4.1 kernels), while a padding leak
  moves the wave by ~1e-2 of its peak. Codes agree
  exactly except where the encoder's choice is a near tie: a code may flip where its distances to
  two entries differ by < ``eps`` (a 1e-7 difference on another CPU decides such a tie). Where the
  codec reports those distance gaps (``margins``, e.g. ``inhouse_margins``) a flip is accepted only
  at a near tie; otherwise at most ``max_flip_share`` of an item's frames may flip. In a residual
  quantizer a flip changes every deeper level's residual, so only the first differing level of a
  frame is judged. An item whose codes flipped is not held to the wave tolerance.
* Lengths: output has the input's shape and rate, zeros past each item's length; each level has
  ``ceil(n x frame_rate / sample_rate)`` codes, ``frame_slack`` more allowed (chunked codecs).
* Metrics: every output is a finite float or a ``Failure``; a NaN reconstruction becomes a failure,
  never a number; ``compute_batch`` equals ``compute`` item by item (rtol 1e-6 by default: batched
  models may pad).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codecbench import audio
from codecbench.codecs.registry import CodecSpec, get_spec
from codecbench.metrics.base import Metric, MetricInput, safe_compute
from codecbench.parity import ParityReport, ReferenceOutput, check_parity, check_tail  # noqa: F401 (re-exported)
from codecbench.types import CodebookLevel, CodecInfo, Failure, Utterance

Margins = Callable[[np.ndarray], "list[np.ndarray]"]  # native-rate wave [T] -> per level, per frame gap


@dataclass
class CodecReport:
    """What check_codec measured."""

    name: str
    items: int = 0
    frames: int = 0
    flips: int = 0  # (frame, level) code differences accepted as near ties
    max_wave_diff: float = 0.0  # relative to the batch peak, over items without flips
    problems: list[str] = field(default_factory=list)


FLOAT32_NETWORK_RTOL = 1e-4  # two float32 evaluations of one network in another summation order (see above)


def test_signal(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a moving pitch, amplitude modulation and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 + 40 * seed + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t + seed))
    return (0.15 * x * env + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def _check_info(info: CodecInfo, p: list[str]) -> None:
    if not info.name or not info.family or info.sample_rate <= 0:
        p.append(f"metadata: name/family/sample_rate missing in {info}")
    for lvl in info.codebooks:
        if lvl.size < 2 or not lvl.frame_rate or lvl.frame_rate <= 0:
            p.append(f"metadata: bad codebook level {lvl}")
    if info.codebooks and info.latent_dim is not None:
        p.append("metadata: both codebooks and a continuous latent")
    if info.codebooks and not (info.nominal_bitrate and info.nominal_bitrate > 0):
        p.append("metadata: a token codec without a nominal bitrate")


def _flips(a: list[np.ndarray], b: list[np.ndarray], margin: list[np.ndarray] | None, eps: float,
           residual: bool, p: list[str], what: str) -> int:
    """Accepted code differences between two items' codes; problems appended to p."""
    if [len(x) for x in a] != [len(x) for x in b]:
        p.append(f"{what}: code lengths {[len(x) for x in a]} != {[len(x) for x in b]}")
        return 0
    if not a:
        return 0
    diff = np.stack([x != y for x, y in zip(a, b, strict=True)]) if len(set(map(len, a))) == 1 else None
    if diff is None:  # levels at different rates (SNAC): judged level by level
        diff_levels = [x != y for x, y in zip(a, b, strict=True)]
        residual = False
    else:
        diff_levels = list(diff)
    judged = [d.copy() for d in diff_levels]
    if residual and diff is not None:
        first = diff.cumsum(0) == 1  # the first differing level of each frame
        judged = list(diff & first)
    flips = 0
    for k, d in enumerate(judged):
        idx = np.flatnonzero(d)
        if not len(idx):
            continue
        if margin is not None:
            bad = idx[margin[k][idx] >= eps]
            if len(bad):
                p.append(f"{what}: level {k} frames {bad[:5].tolist()} differ at a clear choice "
                         f"(distance gap {float(margin[k][bad[0]]):.3g} >= eps {eps:g})")
        flips += len(idx)
    return flips


def check_codec(spec: CodecSpec | str, *, device: str = "cpu", seconds: tuple[float, ...] = (0.61, 0.23, 0.45),
                wave_rtol: float = FLOAT32_NETWORK_RTOL, eps: float = 1e-4, max_flip_share: float = 0.02, frame_slack: int = 1,
                residual: bool | None = None, margins: Callable[[object], Margins] | None = None) -> CodecReport:
    """Check a codec (a spec, or a registered ``NAME``/``NAME:ARG``): metadata, lengths, batched == single
    with the near-tie tolerance for codes, and resampling from another rate. ``margins(codec)`` returns
    the codec's distance-gap function where one is known; ``residual`` defaults to family RVQ codecs."""
    name = spec if isinstance(spec, str) else spec.name
    arg = name.partition(":")[2] or None if isinstance(spec, str) else None
    spec = get_spec(spec) if isinstance(spec, str) else spec
    rep = CodecReport(name)
    p = rep.problems
    _check_info(spec.info, p)
    codec = spec.load(arg, device)
    try:
        info = codec.info
        _check_info(info, p)
        if (info.name.partition(":")[0], info.sample_rate) != (spec.info.name, spec.info.sample_rate):
            p.append(f"metadata: loaded {info.name}@{info.sample_rate} != registered {spec.name}@{spec.info.sample_rate}")
        sr = info.sample_rate
        items = [test_signal(s, sr, k)[: int(s * sr) + 7 * k + 3] for k, s in enumerate(seconds)]
        batch, lengths = audio.pad_batch(items)
        rec = codec.reconstruct(batch, lengths, sr)
        if rec.wave.shape != batch.shape or list(rec.lengths) != list(lengths) or rec.sample_rate != sr:
            p.append(f"lengths: output {rec.wave.shape}@{rec.sample_rate} for input {batch.shape}@{sr}")
            return rep
        if not np.isfinite(rec.wave).all():
            p.append("output: non-finite samples")
        peak = float(np.abs(rec.wave).max()) or 1.0
        if residual is None:
            residual = len(info.codebooks) > 1 and len({c.frame_rate for c in info.codebooks}) == 1
        margin_of = margins(codec) if margins is not None else None
        for b, (w, n) in enumerate(zip(items, lengths, strict=True)):
            rep.items += 1
            if np.any(rec.wave[b, n:] != 0):
                p.append(f"lengths: item {b} not zero past its length {n}")
            single = codec.reconstruct(w[None], np.array([n]), sr)
            flips = 0
            if info.codebooks:
                if rec.codes is None or single.codes is None:
                    p.append("codes: a token codec returned no codes")
                    continue
                codes = rec.codes[b]
                if len(codes) != len(info.codebooks):
                    p.append(f"codes: {len(codes)} levels, metadata says {len(info.codebooks)}")
                    continue
                for k, (lvl, c) in enumerate(zip(info.codebooks, codes, strict=True)):
                    want = math.ceil(n * lvl.frame_rate / sr - 1e-9)
                    if not want - 1 <= len(c) <= want + frame_slack:
                        p.append(f"lengths: item {b} level {k} has {len(c)} codes, expected {want}")
                    if len(c) and (c.min() < 0 or c.max() >= lvl.size):
                        p.append(f"codes: item {b} level {k} outside [0, {lvl.size})")
                margin = margin_of(w) if margin_of is not None else None
                flips = _flips(single.codes[0], codes, margin, eps, residual, p, f"batched != single, item {b}")
                frames = max(len(c) for c in codes)
                rep.frames += frames
                rep.flips += flips
                if margin is None and flips > max(1, max_flip_share * frames * len(codes)):
                    p.append(f"batched != single, item {b}: {flips} code flips in {frames} frames "
                             f"(> {max_flip_share:.0%}; no distance gaps known to tell near ties)")
            if flips == 0:
                d = float(np.abs(single.item(0) - rec.item(b)).max()) / peak
                rep.max_wave_diff = max(rep.max_wave_diff, d)
                if d > wave_rtol:
                    p.append(f"batched != single, item {b}: waves differ by {d:.2g} x peak (> {wave_rtol:g})")
        other = 16000 if sr != 16000 else 24000  # resampling: any input rate in, the same rate and lengths out
        res = codec.reconstruct(*audio.pad_batch([audio.resample(w, sr, other) for w in items[:2]]), other)
        want = [len(audio.resample(w, sr, other)) for w in items[:2]]
        if res.sample_rate != other or list(res.lengths) != want or res.wave.shape[1] != max(want):
            p.append(f"resampling: {other} Hz in gave {res.wave.shape}@{res.sample_rate}, lengths {list(res.lengths)}")
        elif not np.isfinite(res.wave).all() or not np.abs(res.wave).max() > 0:
            p.append(f"resampling: {other} Hz in gave silent or non-finite audio")
    finally:
        codec.close()
    if p:
        raise AssertionError(f"check_codec({name}):\n  " + "\n  ".join(p))
    return rep


def inhouse_margins(codec) -> Margins:
    """Distance gaps of an in-house RVQ/FSQ codec (``codecbench.codecs.inhouse``): per level and frame,
    RVQ: second-nearest minus nearest squared distance of the residual; FSQ: the smallest distance
    of a bounded channel from a rounding boundary (x.5) in the group."""
    import torch

    model = codec.model

    def gaps(wave: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            z = model.encoder(model.pad(torch.from_numpy(wave)[None, None].to(codec.device)))
            bn = model.bottleneck
            if model.cfg.kind == "rvq":
                x = z[0].T
                out = []
                for cb in bn.codebooks[: codec.n_quantizers or len(bn.codebooks)]:
                    e = cb.embed
                    dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ e.t() + e.pow(2).sum(1)[None]
                    two = dist.topk(2, dim=1, largest=False).values
                    out.append((two[:, 1] - two[:, 0]).cpu().numpy())
                    x = x - cb.lookup(dist.argmin(1))
                return out
            g = z.view(1, bn.n_codebooks, bn.group, -1).permute(0, 1, 3, 2)
            b = bn._bound(g)
            return list((0.5 - (b - b.floor() - 0.5).abs()).amin(-1)[0].cpu().numpy())

    return gaps


# -- metrics -------------------------------------------------------------------------------------------
@dataclass
class MetricReport:
    name: str
    values: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _inputs(sr: int = 16000) -> list[MetricInput]:
    """Two speech-like pairs of different lengths, with text, codes, bits and timings for every metric kind."""
    codec = CodecInfo(name="check", family="check", sample_rate=sr, frame_rate=50.0,
                      codebooks=(CodebookLevel(1024, 50.0),) * 2, nominal_bitrate=2 * 10 * 50.0)
    rng = np.random.default_rng(0)
    out = []
    for k, s in enumerate((1.3, 2.1)):
        ref = test_signal(s, sr, k)
        deg = (ref + 0.01 * rng.standard_normal(len(ref))).astype(np.float32)
        out.append(MetricInput(ref=ref, deg=deg, sample_rate=sr,
                               utterance=Utterance(id=f"check{k}", lang="en", text="the quick brown fox"),
                               codec=codec, codes=[rng.integers(0, 1024, int(s * 50)) for _ in range(2)],
                               bits=1000.0 * s, encode_seconds=0.01, decode_seconds=0.01))
    return out


def _toy_encode(waves: list[np.ndarray], sample_rate: int) -> list[list[np.ndarray]]:
    """The check codec's encoder (``_inputs``: 2 levels of 1024 entries at 50 Hz): per 20 ms frame, the
    quantised log energy and the number of sign changes."""
    hop = sample_rate // 50
    out = []
    for w in waves:
        frames = np.asarray(w, dtype=np.float64)[: len(w) // hop * hop].reshape(-1, hop)
        energy = np.clip(np.round(10 * np.log10(np.mean(frames**2, axis=1) + 1e-10) * 8) + 800, 0, 1023)
        crossings = np.sum(np.diff(np.sign(frames), axis=1) != 0, axis=1) % 1024
        out.append([energy.astype(np.int64), crossings.astype(np.int64)])
    return out


def _values_ok(metric: Metric, v: dict, p: list[str], what: str) -> None:
    names = [o.name for o in metric.info().outputs]
    if sorted(v) != sorted(names):
        p.append(f"{what}: outputs {sorted(v)} != declared {sorted(names)}")
    for k, x in v.items():
        if not isinstance(x, Failure) and not (isinstance(x, float) and math.isfinite(x)):
            p.append(f"{what}: {k} = {x!r} is neither a finite float nor a Failure")


def _same(a: dict, b: dict, rtol: float, atol: float, p: list[str], what: str) -> None:
    for k, x in a.items():
        y = b.get(k)
        if isinstance(x, Failure) or isinstance(y, Failure):
            if type(x) is not type(y) or x.kind != y.kind:
                p.append(f"{what}, {k}: {x!r} vs {y!r}")
        elif not math.isclose(x, y, rel_tol=rtol, abs_tol=atol):
            p.append(f"{what}, {k}: {x!r} vs {y!r}")


def check_metric(metric: Metric, *, rtol: float = 1e-6, atol: float = 1e-9,
                 reference: Callable[[MetricInput], dict] | None = None, reference_tol: float = 1e-6,
                 workdir: str | None = None) -> MetricReport:
    """Check a metric instance: metadata, outputs are floats or Failures (a NaN reconstruction is a
    failure, never a number), ``compute_batch`` == ``compute`` per item, and
    against ``reference(x) -> {output: value}`` where one is declared. A metric that cannot run here
    must say why through ``unavailable_reason``; it is then checked for metadata only."""
    rep = MetricReport(metric.name)
    p = rep.problems
    info = metric.info()
    if info.name != metric.name or not (info.outputs or info.corpus_outputs):
        p.append(f"metadata: info().name {info.name!r} != {metric.name!r} or no outputs")
    if len({o.name for o in info.outputs}) != len(info.outputs):
        p.append("metadata: duplicate output names")
    if metric.unavailable_reason() is None:
        metric.setup("cpu", workdir)
        xs = _inputs()
        for x in xs if info.needs_encoder else []:  # as in a run's codec stage
            x.encode = _toy_encode
        single = [safe_compute(metric, x) for x in xs]
        try:
            batch = metric.compute_batch(xs)
        except Exception as exc:
            raise AssertionError(f"check_metric({metric.name}): compute_batch raised {type(exc).__name__}: {exc}") from exc
        rep.values = single
        if len(batch) != len(xs):
            p.append(f"compute_batch returned {len(batch)} results for {len(xs)} inputs")
        for i, (a, b) in enumerate(zip(single, batch, strict=False)):
            _values_ok(metric, a, p, f"compute, item {i}")
            _values_ok(metric, b, p, f"compute_batch, item {i}")
            _same(a, b, rtol, atol, p, f"batch != single, item {i}")
            if reference is not None:
                for k, want in reference(xs[i]).items():
                    got = a.get(k)
                    if isinstance(got, Failure) or not math.isclose(got, want, rel_tol=reference_tol, abs_tol=reference_tol):
                        p.append(f"reference, item {i}, {k}: {got!r} vs {want!r}")
        # a broken item is a failure, never a score, and spoils no other item (a data check reads only the
        # reference, so a broken reconstruction does not concern it)
        if info.needs_reference and not info.data_check:
            bad = MetricInput(ref=xs[0].ref, deg=np.full_like(xs[0].deg, np.nan), sample_rate=xs[0].sample_rate,
                              utterance=xs[0].utterance, codec=xs[0].codec, codes=xs[0].codes)
            got = [safe_compute(metric, bad)]
            try:
                got += metric.compute_batch([bad, xs[1]])
            except Exception as exc:  # the reconstruct stage then fails every item of the batch
                p.append(f"NaN audio: compute_batch raised {type(exc).__name__}: {exc} (one bad item fails its batch)")
            for what, v in zip(("compute", "compute_batch"), got[:2], strict=False):
                _values_ok(metric, v, p, f"NaN audio, {what}")
                scored = [k for k, x in v.items() if not isinstance(x, Failure)]
                if scored:
                    p.append(f"NaN audio, {what}: {scored} scored, expected Failures")
            if len(got) == 3:
                _same(single[1], got[2], rtol, atol, p, "NaN audio: the good item beside it changed")
    if p:
        raise AssertionError(f"check_metric({metric.name}):\n  " + "\n  ".join(p))
    return rep
