"""Speaker similarity: Resemblyzer GE2E on real speech, and the ECAPA-TDNN path on a checkpoint saved
in SpeechBrain's folder layout (random weights built here), loaded through the real code path."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from codecbench.audio import load, resample, save
from codecbench.metrics.base import Failure, MetricInput
from codecbench.metrics.registry import create
from codecbench.metrics.speaker.ecapa_net import EcapaTdnn
from codecbench.metrics.speaker.metric import cosine
from codecbench.types import Utterance
from tests.helpers import write_random_ecapa

torch.set_num_threads(1)

# Tolerances. Embeddings are float32; their kernels (oneDNN/MKL) differ by instruction set and thread
# count in the last bits. Bounds between two float32 evaluations (ours vs Resemblyzer, batched vs single)
# come from rounding, not from a run: sums of n terms in another order differ by ~sqrt(n) u (u = 2^-24),
# compounding over L layers in quadrature: sqrt(L n) u. GE2E: 3 LSTM layers over ~160 frames, fan-in 512:
# sqrt(3 * 160 * 512) u ~ 3e-5 on unit-norm vectors -> 1e-4. ECAPA: ~15 layers of fan-in <= 3072:
# sqrt(15 * 3072) u ~ 1.3e-5 of the embedding's scale (~2) -> 1e-4. Measured here <= 3e-7 with
# ATEN_CPU_CAPABILITY=avx512, =avx2 and =default with ONEDNN_MAX_CPU_ISA=SSE41. The other bounds are
# properties of the signals (gaps, padding at conv edges), far from any rounding.
GE2E_GAP = 0.1  # same-speaker minus different-speaker cosine: measured 0.826 - 0.637 = 0.189
OPUS_MIN_SIM = 0.85  # GE2E cosine of hi_08 vs its Opus 6 kbps reconstruction: measured 0.913
FLOAT32_ATOL = 1e-4  # unit-norm GE2E embeddings: ours vs Resemblyzer measured 0.0, batched vs single 1.3e-7
ECAPA_PAD_COS = 1e-3  # 1 - cosine, batched vs single (padding at conv edges, not rounding): measured 1.0e-4
ECAPA_ATOL = 1e-4  # the longest (unpadded) item, batched vs single: measured 3e-7 (embedding scale ~2)
GAIN_COS = 1e-3  # 1 - cosine of x vs x/2 (fbank floor): measured <= 2.4e-7


def _wave(testdata, path):
    w, sr = load(testdata / path)
    return resample(w, sr, 16000)


def _halves(w):
    n = len(w) // 2
    return w[:n], w[n:]


def _opus(w, tmp_path, kbps=6):
    save(tmp_path / "in.wav", w, 16000)
    try:
        subprocess.run(["opusenc", "--quiet", "--bitrate", str(kbps), str(tmp_path / "in.wav"), str(tmp_path / "x.opus")],
                       check=True, capture_output=True)
        subprocess.run(["opusdec", "--quiet", "--rate", "16000", str(tmp_path / "x.opus"), str(tmp_path / "out.wav")],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"opus-tools not usable: {exc}")
    out, _ = load(tmp_path / "out.wav")
    return out[: len(w)]


def _x(ref, deg, uid="u"):
    n = min(len(ref), len(deg))
    return MetricInput(ref=ref[:n], deg=deg[:n], sample_rate=16000, utterance=Utterance(id=uid))


@pytest.fixture(scope="module")
def ge2e():
    m = create("spk_sim_ge2e")
    if m.unavailable_reason():
        pytest.skip(m.unavailable_reason())
    return m


def test_ge2e_same_speaker_scores_above_different_speakers(testdata, ge2e, tmp_path):
    jfk, lj, hi = (_wave(testdata, p) for p in ("en/jfk.flac", "en/LJ050-0131.wav", "hi/hi_08.wav"))
    (j1, j2), (l1, l2), (h1, h2) = _halves(jfk), _halves(lj), _halves(hi)
    same = [_x(j1, j2), _x(l1, l2), _x(h1, h2), _x(hi, _opus(hi, tmp_path))]
    different = [_x(j1, l1), _x(j2, h2), _x(l2, h1), _x(jfk, hi), _x(lj, hi)]
    s = [v["spk_sim_ge2e"] for v in ge2e.compute_batch(same)]
    d = [v["spk_sim_ge2e"] for v in ge2e.compute_batch(different)]
    assert min(s) > max(d) + GE2E_GAP, (s, d)
    assert s[-1] > OPUS_MIN_SIM  # the Opus 6 kbps reconstruction keeps the voice


def test_ge2e_matches_resemblyzer_and_batching_is_exact(testdata, ge2e):
    if "webrtcvad" not in sys.modules:
        try:
            import webrtcvad  # noqa: F401
        except Exception:  # its pkg_resources import fails on recent setuptools; the VAD is not used here
            sys.modules["webrtcvad"] = types.ModuleType("webrtcvad")
    from resemblyzer import VoiceEncoder
    from resemblyzer.audio import normalize_volume

    waves = [_wave(testdata, p) for p in ("hi/hi_07.wav", "en/jfk.flac", "hi/hi_02.wav")]
    enc = ge2e._load()
    batched = enc.embed(waves)
    ours = [enc.embed([w])[0] for w in waves]
    ve = VoiceEncoder("cpu", verbose=False)
    for w, b, o in zip(waves, batched, ours, strict=True):
        theirs = ve.embed_utterance(normalize_volume(w, -30, increase_only=True))
        assert np.abs(o - theirs).max() < FLOAT32_ATOL
        assert np.abs(b - o).max() < FLOAT32_ATOL


# ------------------------------------------------------------------ ECAPA in SpeechBrain's layout



@pytest.fixture(scope="module")
def ecapa_folder(tmp_path_factory):
    """A SpeechBrain-layout folder with random weights (state-dict keys as SpeechBrain writes them)."""
    folder = tmp_path_factory.mktemp("spkrec-ecapa-random")
    return folder, write_random_ecapa(folder)


def test_ecapa_state_dict_keys_follow_speechbrain():
    keys = set(EcapaTdnn(80).state_dict())
    for k in ("blocks.0.conv.conv.weight", "blocks.0.norm.norm.running_var",
              "blocks.1.res2net_block.blocks.0.conv.conv.weight", "blocks.1.se_block.conv1.conv.weight",
              "blocks.3.tdnn2.norm.norm.num_batches_tracked", "mfa.conv.conv.weight", "asp.tdnn.conv.conv.weight",
              "asp.conv.conv.bias", "asp_bn.norm.weight", "fc.conv.weight"):
        assert k in keys, k
    assert EcapaTdnn(80, channels=[1024, 1024, 1024, 1024, 3072]).fc.conv.weight.shape == (192, 6144, 1)


def test_ecapa_loads_speechbrain_layout_through_the_real_path(testdata, ecapa_folder, monkeypatch):
    folder, state = ecapa_folder
    m = create("spk_sim_ecapa", {"source": str(folder)})
    assert m.unavailable_reason() is None
    m.setup("cpu")
    enc = m._load()
    loaded = enc.model.state_dict()
    assert all(torch.equal(loaded[k].cpu(), v) for k, v in state.items())
    assert enc.fbank.win == 400 and enc.fbank.hop == 160 and enc.fbank.fbank.shape == (201, 80)
    waves = [_wave(testdata, p) for p in ("hi/hi_07.wav", "hi/hi_04.wav", "en/LJ050-0131.wav", "hi/hi_03.wav")]
    batched = enc.embed(waves)
    single = np.stack([enc.embed([w])[0] for w in waves])
    assert batched.shape == (4, 32) and np.all(np.isfinite(batched))
    cos = [cosine(b, s) for b, s in zip(batched, single, strict=True)]
    assert min(cos) > 1 - ECAPA_PAD_COS, cos  # padding only reaches the reflect-padded conv edges
    assert np.allclose(batched[2], single[2], atol=ECAPA_ATOL)  # the longest item is not padded at all
    xs = [_x(w, w * 0.5, str(i)) for i, w in enumerate(waves)]
    vals = m.compute_batch(xs)
    assert all(abs(v["spk_sim_ecapa"] - 1.0) < GAIN_COS for v in vals)  # gain-invariant up to the fbank floor
    info = m.info()
    assert info.batched and info.default and info.model == str(folder) and info.sample_rate == 16000


def test_ecapa_without_weights_is_unavailable_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    m = create("spk_sim_ecapa")
    reason = m.unavailable_reason()
    assert reason and "speechbrain/spkrec-ecapa-voxceleb" in reason and "codecbench models download" in reason
    (v,) = m.compute_batch([_x(np.ones(16000, np.float32), np.ones(16000, np.float32))])
    assert isinstance(v["spk_sim_ecapa"], Failure) and v["spk_sim_ecapa"].kind == "unavailable"
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    assert "hyperparams.yaml" in create("spk_sim_ecapa", {"source": str(bad)}).unavailable_reason()


def test_short_and_silent_items_fail_with_reasons(ge2e):
    vals = ge2e.compute_batch([_x(np.ones(1000, np.float32), np.ones(1000, np.float32)),
                               _x(np.zeros(16000, np.float32), np.zeros(16000, np.float32))])
    assert "too short" in vals[0]["spk_sim_ge2e"].reason and "silence" in vals[1]["spk_sim_ge2e"].reason
    assert "torchaudio" not in sys.modules and "speechbrain" not in sys.modules
