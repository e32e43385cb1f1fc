"""The paper metrics' models (UTMOS22 strong, WavLM x-vector, UniSpeech ECAPA-TDNN on WavLM) from tiny
random checkpoints in their real layouts (tests/paper_checkpoints.py), loaded through the metrics'
real path: batched equals single, padding does not leak, weights load without executing code."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch

from codecbench.metrics.base import Failure, MetricInput
from codecbench.metrics.registry import create
from codecbench.metrics.speaker.metric import cosine
from codecbench.testing import FLOAT32_NETWORK_RTOL
from codecbench.types import Utterance
from tests.paper_checkpoints import build_utmos, build_wavlm_ecapa, build_wavlm_xvector

torch.set_num_threads(1)

# Batched vs single runs the same operations on differently shaped matrices, so only float32 summation
# order differs: codecbench.testing.FLOAT32_NETWORK_RTOL (derived there) bounds it. Padding that leaked
# would move values by orders of magnitude more: LEAK is asserted to be seen when it is simulated.
REL = FLOAT32_NETWORK_RTOL
LEAK = 1e-2


def _waves(seed=0, lengths=(16000, 7000, 12345, 3000)):
    rng = np.random.default_rng(seed)
    t = [np.arange(n) / 16000 for n in lengths]
    return [(0.1 * np.sin(2 * np.pi * (110 + 40 * i) * x) + 0.05 * rng.standard_normal(len(x))).astype(np.float32)
            for i, x in enumerate(t)]


def _x(ref, deg, uid="u", lang="en", sr=16000):
    return MetricInput(ref=ref, deg=deg, sample_rate=sr, utterance=Utterance(id=uid, lang=lang))


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


# -- UTMOS --------------------------------------------------------------------------------------------
def test_utmos_state_dict_has_speechmos_names():
    from codecbench.metrics.mos.utmos_net import Utmos22Strong

    keys = set(Utmos22Strong().state_dict())
    for k in ("wav2vec2.feature_extractor.conv_layers.0.0.weight", "wav2vec2.feature_extractor.conv_layers.0.2.weight",
              "wav2vec2.feature_extractor.conv_layers.6.0.weight", "wav2vec2.layer_norm.weight",
              "wav2vec2.post_extract_proj.weight", "wav2vec2.encoder.pos_conv.0.weight_g",
              "wav2vec2.encoder.pos_conv.0.weight_v", "wav2vec2.encoder.pos_conv.0.bias",
              "wav2vec2.encoder.layers.11.self_attn.q_proj.weight", "wav2vec2.encoder.layers.11.final_layer_norm.bias",
              "wav2vec2.encoder.layer_norm.weight", "wav2vec2.mask_emb", "domain_emb", "judge_emb",
              "blstm.weight_ih_l0_reverse", "projection.0.weight", "projection.2.bias"):
        assert k in keys, k
    sd = Utmos22Strong().state_dict()
    assert sd["blstm.weight_ih_l0"].shape == (2048, 1024) and sd["projection.0.weight"].shape == (2048, 1024)
    assert sd["wav2vec2.encoder.pos_conv.0.weight_v"].shape == (768, 48, 128)


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_utmos_batched_equals_single_and_padding_does_not_leak(tmp_path, fmt):
    path = build_utmos(tmp_path / "utmos", fmt)
    m = create("utmos", {"source": str(path if fmt == "pt" else path.parent)})
    assert m.unavailable_reason() is None
    waves = _waves()
    batched = m.scores(waves)
    single = np.array([m.scores([w])[0] for w in waves])
    assert np.all(np.isfinite(batched)) and np.ptp(batched) > 10 * LEAK  # the items score differently
    assert _rel(batched, single) < REL, (batched, single)
    # what a leaking model computes: the short item scored over the batch's padded length
    padded = np.zeros(len(waves[0]), np.float32)
    padded[:len(waves[3])] = waves[3]
    model = m._load()
    with torch.no_grad():
        leaky = float(model(torch.from_numpy(padded)[None], torch.tensor([len(padded)]))[0])
    assert abs(leaky - single[3]) > LEAK  # the test above would see a leak
    info = m.info()
    assert info.revision.startswith("sha256:") and info.trained_languages == ("en",) and not info.needs_reference
    vals = m.compute_batch([_x(w, w, str(i)) for i, w in enumerate(waves)]
                           + [_x(waves[0], np.full(16000, np.nan, np.float32)), _x(waves[0], waves[0][:800])])
    assert [v["utmos"] for v in vals[:4]] == pytest.approx(list(batched), rel=REL)
    assert "NaN" in vals[4]["utmos"].reason and "too short" in vals[5]["utmos"].reason


def test_utmos_resamples_to_16k_and_declares_its_language(tmp_path):
    m = create("utmos", {"source": str(build_utmos(tmp_path / "u"))})
    w = _waves(lengths=(24000,))[0]
    from codecbench.audio import resample

    w24 = resample(w, 16000, 24000)
    (v,) = m.compute_batch([_x(w24, w24, sr=24000)])
    assert v["utmos"] == pytest.approx(m.scores([resample(w24, 24000, 16000)])[0], rel=REL)
    assert m.language_note("en-US") is None and m.language_note("all") is None
    assert "trained on en only" in m.language_note("hi")


def test_utmos_refuses_pickled_code_and_wrong_sizes(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"model": Failure.failed("an object, not a tensor")}, bad)  # unpickling would need a class
    m = create("utmos", {"source": str(bad)})
    with pytest.raises(Exception, match="weights_only"):
        m._load()
    (v,) = m.compute_batch([_x(_waves()[0], _waves()[0])])
    assert v["utmos"].kind == "unavailable" and "weights_only" in v["utmos"].reason
    path = build_utmos(tmp_path / "u")
    (path.parent / "config.json").write_text('{"hidden": 48}')  # sizes that do not fit the tensors
    (v,) = create("utmos", {"source": str(path)}).compute_batch([_x(_waves()[0], _waves()[0])])
    assert v["utmos"].kind == "unavailable" and "does not fit" in v["utmos"].reason
    assert isinstance(pickle.loads(pickle.dumps(create("utmos", {"source": str(path)}))), type(m))


def test_utmos_default_weights_offline_are_unavailable_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    m = create("utmos")
    reason = m.unavailable_reason()
    assert "SpeechMOS" in reason and "offline" in reason and "codecbench models download utmos22-strong" in reason
    (v,) = m.compute_batch([_x(_waves()[0], _waves()[0])])
    assert v["utmos"].kind == "unavailable"


# -- WavLM x-vector ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["layer", "group"])
def test_wavlm_xvector_batched_equals_single(tmp_path, norm):
    folder = build_wavlm_xvector(tmp_path / f"xv-{norm}", norm)
    m = create("spk_sim_wavlm", {"source": str(folder)})
    assert m.unavailable_reason() is None
    m.setup("cpu")
    enc = m._load()
    assert enc.batch == (16 if norm == "layer" else 1)  # group norm over time: one item at a time
    waves = _waves()
    batched = enc.embed(waves)
    with torch.no_grad():  # the model's own forward on each item alone is the definition
        single = np.stack([enc.model(torch.from_numpy(enc.fe(w, sampling_rate=16000)["input_values"][0])[None])
                           .embeddings[0].numpy() for w in waves])
    assert _rel(batched, single) < REL
    if norm == "layer":  # transformers' own batched head pools frames computed from padding
        fe = enc.fe(waves, sampling_rate=16000, return_tensors="pt", padding=True, return_attention_mask=True)
        with torch.no_grad():
            theirs = enc.model(fe["input_values"], attention_mask=fe["attention_mask"]).embeddings.numpy()
        assert _rel(theirs[1:], single[1:]) > LEAK * REL  # a leak our path avoids (visible at this scale)
    vals = m.compute_batch([_x(w, w, str(i)) for i, w in enumerate(waves[:3])])
    assert [v["spk_sim_wavlm"] for v in vals[::2]] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert "too short" in vals[1]["spk_sim_wavlm"].reason  # 0.44 s
    info = m.info()
    assert info.model == str(folder) and info.revision is None and info.sample_rate == 16000


def test_wavlm_xvector_missing_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    reason = create("spk_sim_wavlm").unavailable_reason()
    assert "microsoft/wavlm-base-plus-sv" in reason and "codecbench models download wavlm-base-plus-sv" in reason
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text('{"architectures": ["WavLMForCTC"], "model_type": "wavlm"}')
    m = create("spk_sim_wavlm", {"source": str(tmp_path / "x")})
    (v,) = m.compute_batch([_x(_waves()[0], _waves()[0])])
    assert v["spk_sim_wavlm"].kind == "unavailable" and "not an x-vector model" in v["spk_sim_wavlm"].reason


# -- ECAPA-TDNN on WavLM (UniSpeech) ----------------------------------------------------------------------
def test_wavlm_ecapa_checkpoint_uses_unispeech_names(tmp_path):
    state = torch.load(build_wavlm_ecapa(tmp_path / "c.pth"), weights_only=True)["model"]
    for k in ("feature_extract.model.feature_extractor.conv_layers.0.0.weight",
              "feature_extract.model.feature_extractor.conv_layers.0.2.1.weight",
              "feature_extract.model.post_extract_proj.weight", "feature_extract.model.layer_norm.bias",
              "feature_extract.model.encoder.pos_conv.0.weight_g",
              "feature_extract.model.encoder.layers.0.self_attn.relative_attention_bias.weight",
              "feature_extract.model.encoder.layers.1.self_attn.grep_linear.weight",
              "feature_extract.model.encoder.layers.1.self_attn.grep_a",
              "feature_extract.model.encoder.layers.1.self_attn_layer_norm.weight",
              "feature_extract.model.encoder.layers.1.fc1.weight", "feature_extract.model.encoder.layer_norm.weight",
              "feature_weight", "layer1.conv.weight", "layer2.Res2Conv1dReluBn.convs.0.weight",
              "layer4.SE_Connect.linear2.bias", "conv.weight", "pooling.linear1.weight", "bn.running_var", "linear.weight"):
        assert k in state, k
    assert not any(re.search(r"attention\.|feed_forward|pos_conv_embed", k) for k in state)


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_wavlm_ecapa_batched_equals_single(tmp_path, fmt):
    path = build_wavlm_ecapa(tmp_path / f"wavlm_ecapa.{fmt}", fmt)
    m = create("spk_sim_wavlm_ecapa", {"source": str(path)})
    assert m.unavailable_reason() is None
    m.setup("cpu")
    enc = m._load()
    waves = _waves()
    batched = enc.embed(waves)
    single = np.stack([enc.embed([w])[0] for w in waves])
    assert batched.shape == (4, 8) and _rel(batched, single) < REL
    # a leak: the short item's frames computed over the batch's zero padding instead of its own length
    w = np.zeros(len(waves[0]), np.float32)
    w[:len(waves[3])] = waves[3]
    assert 1 - cosine(enc.embed([w])[0], single[3]) > LEAK * REL
    pairs = [(waves[0], waves[0][::-1].copy()), (waves[2], 0.5 * waves[2])]
    vals = m.compute_batch([_x(a, b, str(i)) for i, (a, b) in enumerate(pairs)])
    expect = [cosine(enc.embed([a])[0], enc.embed([b])[0]) for a, b in pairs]
    assert [v["spk_sim_wavlm_ecapa"] for v in vals] == pytest.approx(expect, abs=1e-5)
    info = m.info()
    assert info.revision.startswith("sha256:") and info.model == str(path)


def test_wavlm_ecapa_without_a_file_is_unavailable(tmp_path):
    m = create("spk_sim_wavlm_ecapa")
    assert "wavlm_large_finetune.pth" in m.unavailable_reason() and "source=" in m.unavailable_reason()
    (v,) = m.compute_batch([_x(_waves()[0], _waves()[0])])
    assert v["spk_sim_wavlm_ecapa"].kind == "unavailable"
    other = tmp_path / "other.pth"
    torch.save({"model": {"layer1.conv.weight": torch.zeros(2, 2, 5)}}, other)
    (v,) = create("spk_sim_wavlm_ecapa", {"source": str(other)}).compute_batch([_x(_waves()[0], _waves()[0])])
    assert v["spk_sim_wavlm_ecapa"].kind == "unavailable" and "not a UniSpeech" in v["spk_sim_wavlm_ecapa"].reason


def test_the_project_checker_passes_on_all_three(tmp_path):
    from codecbench.testing import check_metric

    check_metric(create("utmos", {"source": str(build_utmos(tmp_path / "u"))}), rtol=REL, workdir=str(tmp_path))
    check_metric(create("spk_sim_wavlm", {"source": str(build_wavlm_xvector(tmp_path / "x"))}), rtol=REL, atol=1e-6,
                 workdir=str(tmp_path))
    check_metric(create("spk_sim_wavlm_ecapa", {"source": str(build_wavlm_ecapa(tmp_path / "e.pth"))}), rtol=REL,
                 atol=1e-6, workdir=str(tmp_path))
