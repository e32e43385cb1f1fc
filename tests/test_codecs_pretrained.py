"""EnCodec, DAC, Mimi and SNAC adapters on random-weight checkpoints saved in their hub layout.

Each checkpoint keeps the real strides, kernels and codebook sizes (tiny channel counts), is saved
the way the hub repository stores it (transformers: config.json + model.safetensors; SNAC:
config.json + pytorch_model.bin) and is loaded through the same code as real weights.

Stated tolerances (batched vs one item at a time): codes of every valid frame identical; decoded
waves within 1e-4 x the batch's peak (float summation order differs with batch size; the bound's
derivation is in codecbench.testing).
"""

from __future__ import annotations

import importlib
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from codecbench import audio
from codecbench.codecs.base import CodecError, CodecUnavailable
from codecbench.codecs.registry import get_spec, load_codec
from codecbench.testing import FLOAT32_NETWORK_RTOL

pytest.importorskip("transformers")  # the optional 'codecs' extra (strict mode: a failure)
pytest.importorskip("snac")
torch.set_num_threads(1)

from codecbench.codecs._testing import build_checkpoint  # noqa: E402

FAMILIES = ("encodec", "dac", "mimi", "snac")
WAVE_RTOL = FLOAT32_NETWORK_RTOL  # another batch shape, another summation order (codecbench.testing)
ROUNDTRIPS = [  # (model folder, variant)
    ("encodec-24k", "encodec-24k-6kbps"),
    ("encodec-24k", "encodec-24k-1.5kbps"),
    ("encodec-48k", "encodec-48k-6kbps"),
    ("dac-16k", "dac-16k"),
    ("dac-24k", "dac-24k-8cb"),
    ("dac-44k", "dac-44k"),
    ("mimi", "mimi-8cb"),
    ("mimi", "mimi-32cb"),
    ("snac-24k", "snac-24k"),
    ("snac-32k", "snac-32k"),
    ("snac-44k", "snac-44k"),
]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    cache = {}

    def get(model: str):
        if model not in cache:
            cache[model] = build_checkpoint(model, root / model)
        return cache[model]

    return get


def _batch(sr: int, seconds: tuple[float, ...], seed: int = 0):
    rng = np.random.default_rng(seed)
    waves = []
    for k, s in enumerate(seconds):
        n = int(sr * s) + 7 * k + 3  # lengths that are not whole frames
        t = np.arange(n) / sr
        waves.append((0.3 * np.sin(2 * np.pi * (180 + 40 * k) * t) + 0.05 * rng.standard_normal(n)).astype(np.float32))
    return waves


# -- metadata ---------------------------------------------------------------------------------------
def _all_specs():
    out = {}
    for fam in FAMILIES:
        for s in importlib.import_module(f"codecbench.codecs.{fam}").specs():
            out[s.name] = s
    return out


def test_variants_and_metadata():
    specs = _all_specs()
    for kbps, n_q in ((1.5, 2), (3, 4), (6, 8), (12, 16), (24, 32)):
        i = specs[f"encodec-24k-{kbps:g}kbps"].info
        assert (i.sample_rate, i.frame_rate, len(i.codebooks)) == (24000, 75.0, n_q)
        assert {c.size for c in i.codebooks} == {1024} and i.nominal_bitrate == n_q * 10 * 75 == kbps * 1000
        assert i.causal
    for kbps in (3, 6, 12, 24):
        i = specs[f"encodec-48k-{kbps}kbps"].info
        assert i.sample_rate == 48000 and i.frame_rate == 150.0 and i.nominal_bitrate == kbps * 1000
    dac = {"dac-16k": (16000, 50.0, 12), "dac-24k": (24000, 75.0, 32), "dac-44k": (44100, 44100 / 512, 9)}
    for name, (sr, rate, n_q) in dac.items():
        i = specs[name].info
        assert (i.sample_rate, len(i.codebooks)) == (sr, n_q) and i.frame_rate == pytest.approx(rate, rel=1e-12)
        assert i.nominal_bitrate == pytest.approx(n_q * 10 * rate)
    assert specs["dac-44k"].info.frame_rate == pytest.approx(86.1328125)
    assert len(specs["dac-44k-4cb"].info.codebooks) == 4
    for n_q in (8, 32):
        i = specs[f"mimi-{n_q}cb"].info
        assert (i.frame_rate, len(i.codebooks), i.codebooks[0].size) == (12.5, n_q, 2048)
        assert i.nominal_bitrate == n_q * 11 * 12.5
    snac = {"snac-24k": (24000, 512, (4, 2, 1), 984.375), "snac-32k": (32000, 384, (8, 4, 2, 1), 1875.0),
            "snac-44k": (44100, 384, (8, 4, 2, 1), 2583.984375)}
    for name, (sr, hop, strides, bps) in snac.items():
        i = specs[name].info
        assert [c.frame_rate for c in i.codebooks] == pytest.approx([sr / (hop * s) for s in strides])
        assert {c.size for c in i.codebooks} == {4096} and i.nominal_bitrate == pytest.approx(bps)


def test_models_cover_every_variant():
    used = set()
    for fam in FAMILIES:
        for m in importlib.import_module(f"codecbench.codecs.{fam}").models():
            assert m.hub_id and "config.json" in m.allow_patterns
            used.update(m.used_by)
    assert used == set(_all_specs())


def test_family_modules_import_without_torch():
    code = ("import sys, codecbench.codecs.encodec, codecbench.codecs.dac, codecbench.codecs.mimi, codecbench.codecs.snac;"
            "print(sorted(m for m in ('torch', 'transformers', 'snac') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- batched == single, output length, codes --------------------------------------------------------
@pytest.mark.parametrize(("model", "variant"), ROUNDTRIPS, ids=[v for _, v in ROUNDTRIPS])
def test_batched_equals_single(checkpoints, model, variant):
    codec = load_codec(f"{variant}:{checkpoints(model)}", device="cpu")
    info = codec.info
    sr = info.sample_rate
    seconds = (0.61, 1.27, 0.23) if variant.startswith("encodec-48k") else (0.61, 0.23, 0.45)
    waves = _batch(sr, seconds)
    batch, lengths = audio.pad_batch(waves)
    rec = codec.reconstruct(batch, lengths, sr)
    assert rec.wave.shape == batch.shape and np.all(rec.wave[1, lengths[1]:] == 0)
    peak = float(np.abs(rec.wave).max())
    assert peak > 0 and np.isfinite(rec.wave).all()
    for b, w in enumerate(waves):
        codes = rec.codes[b]
        assert len(codes) == len(info.codebooks)
        for level, c in zip(info.codebooks, codes, strict=True):
            assert c.min() >= 0 and c.max() < level.size
            if variant.startswith("snac"):  # every code of SNAC's padded input is sent (see snac.py)
                padded = math.ceil(len(w) / codec.multiple) * codec.multiple
                assert len(c) == round(padded * level.frame_rate / sr)
            elif not variant.startswith("encodec-48k"):  # 48k: real frames of each chunk (see encodec.py)
                assert len(c) == math.ceil(len(w) * level.frame_rate / sr - 1e-9)
        single = codec.reconstruct(w[None], np.array([len(w)]), sr)
        assert single.wave.shape == (1, len(w))
        for c_single, c_batch in zip(single.codes[0], codes, strict=True):
            np.testing.assert_array_equal(c_single, c_batch)
        np.testing.assert_allclose(single.item(0), rec.item(b), rtol=0, atol=WAVE_RTOL * peak)


def test_other_input_rate_is_resampled_and_aligned(checkpoints):
    codec = load_codec(f"dac-44k:{checkpoints('dac-44k')}", device="cpu")
    waves = _batch(16000, (0.3, 0.5))
    batch, lengths = audio.pad_batch(waves)
    rec = codec.reconstruct(batch, lengths, 16000)
    assert rec.sample_rate == 16000 and rec.wave.shape == batch.shape
    assert [len(c[0]) for c in rec.codes] == [math.ceil(round(n * 44100 / 16000) / 512) for n in lengths]


def test_snac_decoding_is_deterministic(checkpoints):
    codec = load_codec(f"snac-24k:{checkpoints('snac-24k')}", device="cpu")
    assert codec.noise_blocks > 0
    w = _batch(24000, (0.4,))[0]
    a = codec.reconstruct(w[None], np.array([len(w)]), 24000).wave
    b = codec.reconstruct(w[None], np.array([len(w)]), 24000).wave
    np.testing.assert_array_equal(a, b)


def test_48k_chunks_and_stereo(checkpoints):
    codec = load_codec(f"encodec-48k-3kbps:{checkpoints('encodec-48k')}", device="cpu")
    w = _batch(48000, (2.5,))[0]
    enc, _ = codec.encode(w[None], np.array([len(w)]), 48000)
    # offsets 0, 0.99 s, 1.98 s; the last chunk is what is left (24963 samples: 79 frames), as in the library
    assert len(enc.codes) == 2 and enc.frames[0][0] == 150 + 150 + 79
    assert len(enc.state["scales"][0]) == 3


# -- where weights come from ------------------------------------------------------------------------
def _fake_hub_cache(root, repo_id: str, revision: str | None, folder):
    """A Hugging Face cache entry (models--org--name/snapshots/<commit>, refs/main) holding ``folder``."""
    import shutil

    commit = revision or "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / commit
    shutil.copytree(folder, snap)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snap


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CODECBENCH_MODELS_DIR", raising=False)
    (tmp_path / "hub").mkdir()
    return tmp_path / "hub"


@pytest.mark.parametrize(("module", "model", "variant"), [
    ("mimi", "mimi", "mimi-8cb"),            # pinned revision
    ("snac", "snac-24k", "snac-24k"),        # follows main
])
def test_loads_from_hub_cache_offline(checkpoints, hub_cache, module, model, variant):
    spec = get_spec(variant)
    reason = spec.unavailable_reason()
    assert reason and f"codecbench models download {model}" in reason
    with pytest.raises(CodecUnavailable, match=model):
        load_codec(variant, device="cpu")
    weights = importlib.import_module(f"codecbench.codecs.{module}").WEIGHTS
    w = weights if not isinstance(weights, dict) else next(x for x in weights.values() if x.name == model)
    _fake_hub_cache(hub_cache, w.hub_id, w.revision, checkpoints(model))
    assert spec.unavailable_reason() is None
    codec = load_codec(variant, device="cpu")
    wave = _batch(24000, (0.3,))[0]
    assert codec.reconstruct(wave[None], np.array([len(wave)]), 24000).wave.shape == (1, len(wave))


def test_models_dir_env(checkpoints, hub_cache, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(checkpoints("dac-16k"), tmp_path / "models" / "dac-16k")
    monkeypatch.setenv("CODECBENCH_MODELS_DIR", str(tmp_path / "models"))
    assert get_spec("dac-16k-4cb").unavailable_reason() is None
    assert len(load_codec("dac-16k-4cb", device="cpu").info.codebooks) == 4


def test_wrong_or_missing_folder(checkpoints, tmp_path):
    with pytest.raises(CodecError, match="sampling_rate"):
        load_codec(f"dac-44k:{checkpoints('dac-16k')}", device="cpu")
    with pytest.raises(CodecUnavailable, match="does not exist"):
        load_codec(f"snac-24k:{tmp_path / 'nowhere'}", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CodecUnavailable, match="config.json"):
        load_codec(f"mimi-8cb:{tmp_path / 'empty'}", device="cpu")


# -- the adapters add nothing the models don't do ---------------------------------------------------
def test_adapters_match_the_raw_models(checkpoints):
    """Away from the end (where only the padding differs), codes equal the raw model's on the bare input."""
    w = _batch(48000, (2.2,))[0]
    codec = load_codec(f"encodec-48k-6kbps:{checkpoints('encodec-48k')}", device="cpu")
    enc, _ = codec.encode(w[None], np.array([len(w)]), 48000)
    with torch.inference_mode():
        x = torch.from_numpy(w)[None, None].expand(1, 2, -1).contiguous()
        raw = codec.model.encode(x, bandwidth=6.0, return_dict=True).audio_codes  # [chunks, 1, n_q, 150]
    np.testing.assert_array_equal(np.stack(enc.codes, 1)[0, :, :300], torch.cat([raw[0, 0], raw[1, 0]], -1).numpy())
    for model, variant, sr in (("dac-44k", "dac-44k", 44100), ("encodec-24k", "encodec-24k-3kbps", 24000)):
        codec = load_codec(f"{variant}:{checkpoints(model)}", device="cpu")
        w = _batch(sr, (0.5,))[0]
        enc, _ = codec.encode(w[None], np.array([len(w)]), sr)
        with torch.inference_mode():
            x = torch.from_numpy(w)[None, None]
            if model == "dac-44k":
                raw = codec.model.encode(x, return_dict=True).audio_codes[0]
            else:
                raw = codec.model.encode(x, bandwidth=3.0, return_dict=True).audio_codes[0, 0]
        keep = int(enc.frames[0][0]) - (12 if model == "dac-44k" else 1)
        np.testing.assert_array_equal(np.stack(enc.codes, 1)[0, :, :keep], raw[:, :keep].numpy())
