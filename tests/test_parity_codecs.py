"""Parity of the pretrained adapters with the codecs' own reference code (issue 23).

For each family, the reference package builds a random model (small channel counts, the released
strides, kernels, codebook sizes and attention windows), its codebooks are calibrated on a
speech-like signal so that codes are diverse (asserted: every level takes >= 4 values), its weights
are mapped into the layout our adapter loads (tests/parity_refs.py) and loaded through the adapter's
real path (a local folder in the hub layout). ``codecbench.testing.check_parity`` then runs the
adapter (one padded batch per input rate) and the reference (one file at a time) on short, long,
odd-length and 16 kHz inputs.

Stated bounds:

* codes: equal, every level, every frame (bits too, where the library defines them);
* waves: max |adapter - reference| <= ``ROUNDING`` x the reference's peak, ``ROUNDING`` =
  ``codecbench.testing.FLOAT32_NETWORK_RTOL`` (1e-4, derived there from float32 summation-order
  rounding through ~30 layers): both sides compute the same operations in float32 in another order
  (batched tensors, transformers' modules, DAC's codes-to-latent lookup vs its straight-through
  latent). The differences the adapters used to have (padding, chunk scales, silence codes) were
  1e-2..1 of the peak.
* tails: the adapter's reconstructions of x and of x + 1 s of silence agree within ``ROUNDING`` on x's
  span except its last ``edge`` samples, where ``edge`` follows from the architecture (computed
  below by propagating NaN through the model's layers, an exact dependency structure).

Resampling (the 16 kHz inputs): the reference is fed the same soxr-resampled input (codecbench.audio),
so these inputs test our rate plumbing around the model; the libraries' own resamplers differ
(docs/codecs.md).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from codecbench.codecs.registry import load_codec
from codecbench.testing import FLOAT32_NETWORK_RTOL, ReferenceOutput, check_parity, check_tail
from codecbench.testing import test_signal as signal
from tests import parity_refs as R

torch = pytest.importorskip("torch")  # strict mode: a failure
pytest.importorskip("transformers")
pytest.importorskip("snac")

ROUNDING = FLOAT32_NETWORK_RTOL
MIN_DISTINCT = 4
# moshi and transformers compute Mimi's layers in another order (fused q/k/v, rotary embeddings,
# attention kernels): latents agree to ~ROUNDING relative, so a code may flip where a relative change of
# ROUNDING could flip it (mimi_margins); the adapter's decoder is then checked on the reference's codes.
TIE_RTOL = {"mimi": ROUNDING}


def _signals(sr: int) -> dict[str, tuple[np.ndarray, int]]:
    return {
        "short 0.3 s": (signal(0.3, sr, 1)[: int(0.3 * sr) - 37], sr),
        "long 4.7 s": (signal(4.7, sr, 2), sr),
        "odd 1.3 s": (signal(1.3, sr, 3)[: int(1.3 * sr) + 101], sr),
        "16k 1.1 s": (signal(1.1, 16000, 4)[:17_623], 16000),
    }


@pytest.fixture(scope="module")
def refs():
    torch.set_num_threads(1)
    with R.references():
        yield


@pytest.fixture(scope="module")
def built(refs, tmp_path_factory):
    """model name -> (reference model, folder in our adapter's layout), built once per module."""
    cache: dict[str, tuple] = {}

    def get(model: str):
        if model not in cache:
            folder = tmp_path_factory.mktemp(model)
            small = not model.endswith("-real")
            if model.startswith("encodec-"):
                ref = R.encodec_reference(24000 if model.startswith("encodec-24k") else 48000, small)
                R.encodec_to_hf(ref, folder)
            elif model.startswith("dac-"):
                ref = R.dac_reference({"16k": 16000, "24k": 24000, "44k": 44100}[model[4:7]], small)
                R.dac_to_hf(ref, folder)
            elif model.startswith("snac-"):
                sr = {"24k": 24000, "32k": 32000, "44k": 44100}[model[5:8]]
                ref, config = R.snac_reference(sr, noise=not model.endswith("-quiet"))
                R.snac_save(ref, config, folder)
            else:
                ref = R.mimi_reference()
                R.mimi_to_hf(ref, folder)
            cache[model] = (ref, folder)
        return cache[model]

    return get


# -- the references' own inference paths -----------------------------------------------------------
def encodec_fn(ref, kbps: float):
    def run(x: np.ndarray) -> ReferenceOutput:
        ref.set_target_bandwidth(kbps)
        t = torch.from_numpy(x)[None, None].expand(1, ref.channels, -1)
        with torch.no_grad():
            frames = ref.encode(t)
            y = ref.decode(frames)[:, :, : len(x)]
        codes = torch.cat([c for c, _ in frames], dim=-1)[0].numpy()
        bits = None
        if ref.normalize:  # encodec.compress: 10 bits per code + a float32 scale per chunk
            bits = float(sum(c.numel() * 10 + 32 for c, _ in frames))
        return ReferenceOutput(wave=y[0].mean(0).numpy(), codes=list(codes), bits=bits)

    return run


def dac_fn(ref, n_q: int):
    def run(x: np.ndarray) -> ReferenceOutput:
        with torch.no_grad():
            out = ref(torch.from_numpy(x)[None, None], ref.sample_rate, n_quantizers=n_q)
        return ReferenceOutput(wave=out["audio"][0, 0].numpy(), codes=list(out["codes"][0, :n_q].numpy()))

    return run


def snac_fn(ref, seed: int = 0):
    def run(x: np.ndarray) -> ReferenceOutput:
        torch.manual_seed(seed)  # the decoder's NoiseBlocks draw from the global generator
        with torch.no_grad():
            y, codes = ref(torch.from_numpy(x)[None, None])
        return ReferenceOutput(wave=y[0, 0].numpy(), codes=[c[0].numpy() for c in codes])

    return run


def mimi_margins(ref, x, n_q: int) -> list[np.ndarray]:
    """moshi's quantizer, level by level and frame by frame: the smallest relative change of the
    quantizer's input that could flip its choice. An error eps in the input x0 (every level's residual
    carries the same eps while codes agree) moves the gap d2^2 - d1^2 by at most 2 |eps| (d1 + d2), so
    a flip needs |eps| / |x0| >= (d2^2 - d1^2) / (2 (d1 + d2) |x0|), which is returned."""
    out = []
    with torch.no_grad():
        emb = ref._encode_to_unquantized_latent(x)
        for rvq, levels in ((ref.quantizer.rvq_first, 1), (ref.quantizer.rvq_rest, n_q - 1)):
            r = rvq.input_proj(emb)
            norm = r[0].double().norm(dim=0)
            for layer in rvq.vq.layers[:levels]:
                e = layer._codebook.embedding.double()
                d = torch.cdist(r[0].T.double()[None], e[None])[0].topk(2, largest=False).values  # [F, 2]
                out.append(((d[:, 1] ** 2 - d[:, 0] ** 2) / (2 * d.sum(1) * norm)).numpy())
                r = r - layer.decode(layer.encode(r))
    return out


def mimi_fn(ref, n_q: int):
    def run(x: np.ndarray) -> ReferenceOutput:
        ref.set_num_codebooks(n_q)
        t = torch.from_numpy(x)[None, None]
        with torch.no_grad():
            codes = ref.encode(t)
            y = ref.decode(codes)[0, 0, : len(x)]
        return ReferenceOutput(wave=y.numpy(), codes=list(codes[0].numpy()), margins=mimi_margins(ref, t, n_q))

    return run


CASES = [  # (model, variant, reference path)
    ("encodec-24k", "encodec-24k-1.5kbps", lambda ref: encodec_fn(ref, 1.5)),
    ("encodec-24k", "encodec-24k-24kbps", lambda ref: encodec_fn(ref, 24.0)),
    ("encodec-48k", "encodec-48k-3kbps", lambda ref: encodec_fn(ref, 3.0)),
    ("encodec-48k", "encodec-48k-24kbps", lambda ref: encodec_fn(ref, 24.0)),
    ("dac-16k", "dac-16k", lambda ref: dac_fn(ref, 12)),
    ("dac-24k", "dac-24k-8cb", lambda ref: dac_fn(ref, 8)),
    ("dac-44k", "dac-44k", lambda ref: dac_fn(ref, 9)),
    ("snac-24k", "snac-24k", snac_fn),
    ("snac-32k", "snac-32k", snac_fn),
    ("snac-44k", "snac-44k", snac_fn),
    ("mimi", "mimi-8cb", lambda ref: mimi_fn(ref, 8)),
    ("mimi", "mimi-32cb", lambda ref: mimi_fn(ref, 32)),
]


@pytest.mark.parametrize(("model", "variant", "reference"), CASES, ids=[c[1] for c in CASES])
def test_adapter_reproduces_the_reference(built, model, variant, reference):
    ref, folder = built(model)
    codec = load_codec(f"{variant}:{folder}", device="cpu")
    rep = check_parity(codec, reference(ref), _signals(codec.info.sample_rate), wave_rtol=ROUNDING,
                       min_distinct=MIN_DISTINCT, tie_rtol=TIE_RTOL.get(model, 0.0))
    print(rep.table())
    assert len(rep.cases) == 4 and all(c.distinct for c in rep.cases)


@pytest.mark.parametrize(("model", "variant", "reference"), [
    ("encodec-24k-real", "encodec-24k-6kbps", lambda ref: encodec_fn(ref, 6.0)),
    ("dac-44k-real", "dac-44k", lambda ref: dac_fn(ref, 9)),
], ids=["encodec-24k-6kbps", "dac-44k"])
def test_real_shapes_reproduce_the_reference(built, model, variant, reference):
    """The released models' channel counts (random values), where cheap: one short input."""
    ref, folder = built(model)
    codec = load_codec(f"{variant}:{folder}", device="cpu")
    sr = codec.info.sample_rate
    rep = check_parity(codec, reference(ref), {"short 0.3 s": _signals(sr)["short 0.3 s"]}, wave_rtol=ROUNDING,
                       min_distinct=MIN_DISTINCT)
    print(rep.table())


def test_encodec_48k_counts_real_frames_and_scales(built):
    _, folder = built("encodec-48k")
    codec = load_codec(f"encodec-48k-6kbps:{folder}", device="cpu")
    n = int(2.5 * 48000)
    enc, _ = codec.encode(signal(2.5, 48000)[None], np.array([n]), 48000)
    # chunks at 0, 0.99 s, 1.98 s; the last holds 0.52 s -> ceil(24960 / 320) = 78 frames
    assert enc.state["chunk_frames"][0] == [150, 150, 78] and int(enc.frames[0][0]) == 378
    assert enc.bits[0] == 378 * 4 * 10 + 3 * 32  # 6 kbps at 150 Hz: 4 codebooks


def test_snac_noise_is_seeded_per_item(built):
    _, folder = built("snac-24k")
    codec = load_codec(f"snac-24k:{folder}", device="cpu")
    assert codec.noise_blocks > 0 and dict(codec.info.options) == {"noise_seed": 0}
    w = signal(0.4, 24000)
    a = codec.reconstruct(w[None], np.array([len(w)]), 24000).wave
    np.testing.assert_array_equal(a, codec.reconstruct(w[None], np.array([len(w)]), 24000).wave)
    codec.noise.seed = 1  # another seed, another draw: the option matters and is recorded
    assert np.abs(codec.reconstruct(w[None], np.array([len(w)]), 24000).wave - a).max() > 0


# -- tails: x vs x + silence ------------------------------------------------------------------------
def _first_changed(codec, padded_end: int, coarse: int = 1) -> int:
    """First output sample that can change when anything from ``padded_end`` on changes: NaN from there
    through the encoder, the affected frames (rounded down to the coarsest quantizer's pooling) through
    the decoder."""
    hop = round(codec.info.sample_rate / codec.info.frame_rate)
    total = padded_end * 2
    model = codec.model
    with torch.no_grad():
        x = torch.zeros(1, 1, total)
        x[..., padded_end:] = float("nan")
        z = model.encoder(x)
        frame = int(torch.isnan(z[0]).any(0).nonzero()[0]) // coarse * coarse
        zq = torch.zeros_like(z)
        zq[..., frame:] = float("nan")
        if hasattr(codec, "noise"):
            codec.noise.start(1)
        y = model.decoder(zq)
    first = int(torch.isnan(y.reshape(-1)).nonzero()[0])
    assert first <= frame * hop
    return first


def _edge(codec):
    info = codec.info
    if info.family == "mimi":
        return lambda n: 0  # causal and zero-padded: x and x + silence are the same input up to x's end
    if info.family == "encodec" and info.causal:
        return lambda n: n - (math.ceil(n / 320) - 1) * 320  # the last (reflect-padded) frame only
    if info.family == "encodec":
        return lambda n: n - (n - 1) // codec.chunk_stride * codec.chunk_stride  # the last chunk (its own scale)
    if info.family == "dac":
        def edge(n):
            end = math.ceil(n / codec.hop) * codec.hop
            return max(0, n - _first_changed(codec, end))
        return edge
    def edge(n):  # snac
        end = math.ceil(n / codec.multiple) * codec.multiple
        return max(0, n - _first_changed(codec, end, coarse=codec.strides[0]))
    return edge


# SNAC: on a checkpoint without the decoder's noise injection, which the library (and so the adapter)
# draws afresh for each input length: with it, x and x + silence differ everywhere by the noise alone.
TAILS = [("encodec-24k", "encodec-24k-6kbps"), ("encodec-48k", "encodec-48k-6kbps"), ("dac-16k", "dac-16k"),
         ("dac-44k", "dac-44k"), ("snac-24k-quiet", "snac-24k"), ("snac-32k-quiet", "snac-32k"),
         ("snac-44k-quiet", "snac-44k"), ("mimi", "mimi-8cb")]


@pytest.mark.parametrize(("model", "variant"), TAILS, ids=[v for _, v in TAILS])
def test_silence_after_the_input_changes_only_the_stated_edge(built, model, variant):
    _, folder = built(model)
    codec = load_codec(f"{variant}:{folder}", device="cpu")
    sr = codec.info.sample_rate
    waves = [signal(s, sr, k)[: int(s * sr) + 13 * k] for k, s in enumerate((0.45, 1.7))]
    edge = _edge(codec)
    rep = check_tail(codec, waves, sr, silence=1.0, edge=edge, wave_rtol=ROUNDING)
    print(variant, "edges (ms):", [round(1000 * edge(len(w)) / sr, 1) for w in waves], "SNR in the edge:",
          [round(s, 1) for s in rep.edge_snr_db], "max diff before:", f"{rep.max_diff:.2g}", "flips:", rep.flips)
