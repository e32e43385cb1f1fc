"""The codecs' own reference implementations, for the parity tests: random-init models, codebooks
calibrated so that codes are diverse, and their weights mapped into the layout our adapters load.

The reference packages (``encodec``, ``descript-audio-codec``, ``moshi``, ``speechbrain``; ``snac`` is a
codecbench extra) are test-only: ``make parity-refs`` installs them with ``--no-deps`` into
``.parity-refs/`` (or ``$CODECBENCH_PARITY_REFS``). Their unused imports (torchaudio, audiotools,
argbind) are served by ``tests/parity_stubs/`` while they are imported; ``references()`` removes every
module it brought in afterwards, so no other test sees them.

Weight mapping: our EnCodec, DAC and Mimi adapters load transformers' checkpoints. Each ``*_to_hf``
below renames the reference's state dict to transformers' names (the rules transformers' conversion
scripts apply); weight-normalised convolutions become ``g * v / ||v||`` where transformers stores a
plain weight. The conversion is checked exhaustively: every transformers key filled, shapes equal.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFS = Path(os.environ.get("CODECBENCH_PARITY_REFS", ROOT / ".parity-refs"))
STUBS = Path(__file__).resolve().parent / "parity_stubs"
REF_MODULES = ("encodec", "dac", "moshi", "speechbrain", "hyperpyyaml", "ruamel", "sentencepiece",
               "torchaudio", "audiotools", "argbind")


@contextlib.contextmanager
def references():
    """Make the reference packages importable; afterwards forget every module they brought in."""
    if not (REFS / ".installed").exists():
        pytest.fail(f"parity references not installed in {REFS}: run `make parity-refs`", pytrace=False)
    before = set(sys.modules)
    sys.path[:0] = [str(STUBS), str(REFS)]
    try:
        yield
    finally:
        for p in (str(STUBS), str(REFS)):
            if p in sys.path:
                sys.path.remove(p)
        for name in set(sys.modules) - before:
            if name.split(".")[0] in REF_MODULES:
                del sys.modules[name]


# -- codebook calibration ---------------------------------------------------------------------------
def pick(vectors, size: int, seed: int = 0):
    """``size`` codebook entries drawn from a Gaussian with the mean and per-dimension spread of ``vectors``
    [N, d] (a level's inputs on the calibration signal): every level, however deep, then has entries
    at the scale of its own residuals, so codes stay diverse on other inputs too."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    mu, sd = vectors.mean(0), vectors.std(0) + 1e-8
    return (mu + sd * torch.randn(size, vectors.shape[1], generator=gen)).contiguous()


def calibration_signal(seconds: float, sr: int):
    """A speech-like calibration input [1, 1, T] (differs from every test input)."""
    import torch

    from codecbench.testing import test_signal

    return torch.from_numpy(test_signal(seconds, sr, seed=7) * 3)[None, None]


# -- EnCodec ------------------------------------------------------------------------------------------
ENCODEC_SMALL = dict(dimension=16, n_filters=4)


def encodec_reference(sr: int, small: bool = True):
    """The ``encodec`` package's model (as ``encodec_model_{24,48}khz(pretrained=False)``), random,
    codebooks calibrated on a speech-like signal."""
    import torch
    from encodec import modules as m
    from encodec import quantization as qt
    from encodec.model import EncodecModel

    torch.manual_seed(0)
    causal, norm, ch = (True, "weight_norm", 1) if sr == 24000 else (False, "time_group_norm", 2)
    dims = ENCODEC_SMALL if small else {}
    enc = m.SEANetEncoder(channels=ch, norm=norm, causal=causal, **dims)
    dec = m.SEANetDecoder(channels=ch, norm=norm, causal=causal, **dims)
    bws = [1.5, 3.0, 6.0, 12.0, 24.0] if sr == 24000 else [3.0, 6.0, 12.0, 24.0]
    n_q = int(1000 * bws[-1] // (math.ceil(sr / enc.hop_length) * 10))
    q = qt.ResidualVectorQuantizer(dimension=enc.dimension, n_q=n_q, bins=1024)
    model = EncodecModel(enc, dec, q, bws, sr, ch, normalize=sr != 24000, segment=None if sr == 24000 else 1.0)
    model.eval()
    with torch.no_grad():
        x = calibration_signal(2.0 if sr == 24000 else 1.0, sr).expand(1, ch, -1)
        if model.normalize:
            x = x / (x.mean(1, keepdim=True).pow(2).mean(-1, keepdim=True).sqrt() + 1e-8)
        r = model.encoder(x)[0].T  # [F, D]
        for k, layer in enumerate(model.quantizer.vq.layers):
            cb = layer._codebook
            cb.embed.copy_(pick(r, cb.embed.shape[0], k))
            cb.embed_avg.copy_(cb.embed)
            cb.inited.fill_(1)
            r = r - cb.decode(cb.encode(r))
    return model


def encodec_to_hf(model, folder: Path) -> Path:
    """Save ``model`` (encodec package) as a transformers EncodecModel checkpoint in ``folder``."""
    import transformers

    sr = model.sample_rate
    cfg = dict(hidden_size=model.encoder.dimension, num_filters=model.encoder.n_filters, sampling_rate=sr,
               codebook_size=1024, target_bandwidths=model.target_bandwidths)
    if sr != 24000:
        cfg.update(audio_channels=2, normalize=True, chunk_length_s=1.0, overlap=0.01, use_causal_conv=False,
                   norm_type="time_group_norm")
    hf = transformers.EncodecModel(transformers.EncodecConfig(**cfg))
    rules = [(r"^(encoder|decoder)\.model\.", r"\1.layers."), (r"\.conv\.conv\.", ".conv."),
             (r"\.convtr\.convtr\.", ".conv."), (r"\.(conv|convtr)\.norm\.", ".norm."),
             (r"\.weight_g$", ".parametrizations.weight.original0"),
             (r"\.weight_v$", ".parametrizations.weight.original1"),
             (r"^quantizer\.vq\.layers\.(\d+)\._codebook\.", r"quantizer.layers.\1.codebook.")]
    state = {_rename(k, rules): v for k, v in model.state_dict().items()}
    _load_exact(hf, state)
    hf.save_pretrained(str(folder))
    return folder


# -- DAC ----------------------------------------------------------------------------------------------
DAC_REAL = {16000: ([2, 4, 5, 8], 12), 24000: ([2, 4, 5, 8], 32), 44100: ([2, 4, 8, 8], 9)}


def dac_reference(sr: int, small: bool = True):
    """descript-audio-codec's ``DAC`` with the released models' strides and codebooks, random,
    codebooks calibrated."""
    import dac
    import torch

    torch.manual_seed(0)
    rates, n_q = DAC_REAL[sr]
    enc_dim, dec_dim = (2, 16) if small else (64, 1536)
    model = dac.DAC(encoder_dim=enc_dim, encoder_rates=rates, latent_dim=None, decoder_dim=dec_dim,
                    decoder_rates=rates[::-1], n_codebooks=n_q, codebook_size=1024, codebook_dim=8,
                    quantizer_dropout=False, sample_rate=sr).eval()
    with torch.no_grad():
        z = model.encoder(model.preprocess(calibration_signal(2.0, sr), sr))
        for k, q in enumerate(model.quantizer.quantizers):
            z_e = q.in_proj(z)[0].T
            q.codebook.weight.copy_(pick(z_e, q.codebook.weight.shape[0], k))
            z_q = q(z)[0]
            z = z - z_q
    return model


def dac_to_hf(model, folder: Path) -> Path:
    import transformers

    rates = list(model.encoder_rates)
    cfg = transformers.DacConfig(encoder_hidden_size=model.encoder_dim, downsampling_ratios=rates,
                                 decoder_hidden_size=model.decoder_dim, upsampling_ratios=list(model.decoder_rates),
                                 n_codebooks=model.n_codebooks, codebook_size=model.codebook_size,
                                 codebook_dim=model.codebook_dim, hidden_size=model.latent_dim,
                                 sampling_rate=model.sample_rate, quantizer_dropout=0.0)
    hf = transformers.DacModel(cfg)
    n = len(rates)
    res = r"block\.([012])\.block\.(\d)"
    rules = [
        (r"^encoder\.block\.0\.", "encoder.conv1."), (rf"^encoder\.block\.{n + 1}\.", "encoder.snake1."),
        (rf"^encoder\.block\.{n + 2}\.", "encoder.conv2."),
        (r"^encoder\.block\.(\d)\.", lambda m: f"encoder.block.{int(m[1]) - 1}."),
        (r"^decoder\.model\.0\.", "decoder.conv1."), (rf"^decoder\.model\.{n + 1}\.", "decoder.snake1."),
        (rf"^decoder\.model\.{n + 2}\.", "decoder.conv2."),
        (r"^decoder\.model\.(\d)\.", lambda m: f"decoder.block.{int(m[1]) - 1}."),
        # residual units: [Snake, conv k7, Snake, conv k1]
        (r"^encoder\.block\.(\d)\." + res, lambda m: f"encoder.block.{m[1]}.res_unit{int(m[2]) + 1}.{_RES[m[3]]}"),
        (r"^encoder\.block\.(\d)\.block\.3\.", r"encoder.block.\1.snake1."),
        (r"^encoder\.block\.(\d)\.block\.4\.", r"encoder.block.\1.conv1."),
        (r"^decoder\.block\.(\d)\.block\.0\.", r"decoder.block.\1.snake1."),
        (r"^decoder\.block\.(\d)\.block\.1\.", r"decoder.block.\1.conv_t1."),
        (r"^decoder\.block\.(\d)\.block\.([234])\.block\.(\d)",
         lambda m: f"decoder.block.{m[1]}.res_unit{int(m[2]) - 1}.{_RES[m[3]]}"),
    ]
    state = {}
    for k, v in _fold_weight_norm(model.state_dict()).items():
        state[_rename(k, rules)] = v
    _load_exact(hf, state)
    hf.save_pretrained(str(folder))
    return folder


_RES = {"0": "snake1", "1": "conv1", "2": "snake2", "3": "conv2"}


# -- SNAC ---------------------------------------------------------------------------------------------
def snac_reference(sr: int, small: bool = True, noise: bool = True):
    """The ``snac`` package's SNAC with the released configs (small: tiny channel counts), calibrated;
    returns (model, config dict as in the hub's config.json). ``noise=False`` leaves out the decoder's
    noise injection (for the tail tests: the library draws it afresh for every input length)."""
    import torch
    from snac import SNAC
    from torch.nn import functional as F

    from codecbench.codecs._testing import REAL_SNAC

    torch.manual_seed(0)
    kwargs = dict(REAL_SNAC[sr])
    if small:
        kwargs.update(encoder_dim=4, decoder_dim=64)
    config = dict(sampling_rate=sr, codebook_size=4096, codebook_dim=8, noise=noise, depthwise=True, **kwargs)
    model = SNAC(**config).eval()
    with torch.no_grad():
        z = model.encoder(model.preprocess(calibration_signal(4.0, sr)))
        for k, q in enumerate(model.quantizer.quantizers):
            pooled = F.avg_pool1d(z, q.stride, q.stride) if q.stride > 1 else z
            z_e = q.in_proj(pooled)[0].T
            q.codebook.weight.copy_(pick(z_e, q.codebook.weight.shape[0], k))
            z = z - q(z)[0]
    return model, config


def snac_save(model, config: dict, folder: Path) -> Path:
    import json

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


# -- Mimi ---------------------------------------------------------------------------------------------
MIMI_SMALL = dict(dimension=32, n_filters=4, q_dim=16, heads=2, layers=1, ff=64)


def mimi_reference(small: bool = True):
    """Kyutai's ``moshi`` MimiModel (``get_mimi`` with its config, tiny dimensions when small), calibrated."""
    import copy

    import torch
    from moshi.models import loaders

    torch.manual_seed(0)
    cfg = copy.deepcopy(loaders._mimi_config)
    if small:
        s = MIMI_SMALL
        cfg["seanet"].update(dimension=s["dimension"], n_filters=s["n_filters"])
        cfg["quantizer"].update(dimension=s["q_dim"], input_dimension=s["dimension"], output_dimension=s["dimension"])
        cfg["transformer"].update(d_model=s["dimension"], num_heads=s["heads"], num_layers=s["layers"],
                                  dim_feedforward=s["ff"], input_dimension=s["dimension"],
                                  output_dimensions=[s["dimension"]])
    model = loaders.get_mimi(None, mimi_config=cfg, device="cpu", num_codebooks=32).eval()
    with torch.no_grad():
        emb = model._encode_to_unquantized_latent(calibration_signal(8.0, 24000))
        for rvq in (model.quantizer.rvq_first, model.quantizer.rvq_rest):
            r = rvq.input_proj(emb)
            for k, layer in enumerate(rvq.vq.layers):
                cb = layer._codebook
                cb.embedding_sum.copy_(pick(r[0].T, cb.embedding_sum.shape[0], k))
                cb.cluster_usage.fill_(1.0)
                cb._initialized.fill_(1.0)
                cb._embedding = None
                r = r - layer.decode(layer.encode(r))
    model.cfg = cfg
    return model


def mimi_to_hf(model, folder: Path) -> Path:
    import transformers

    cfg = model.cfg
    se, tr, qu = cfg["seanet"], cfg["transformer"], cfg["quantizer"]
    d = se["dimension"]
    hf_cfg = transformers.MimiConfig(
        hidden_size=d, num_filters=se["n_filters"], num_hidden_layers=tr["num_layers"],
        intermediate_size=tr["dim_feedforward"], num_attention_heads=tr["num_heads"],
        num_key_value_heads=tr["num_heads"], head_dim=d // tr["num_heads"], codebook_dim=qu["dimension"],
        vector_quantization_hidden_dimension=qu["dimension"], upsample_groups=d, codebook_size=qu["bins"],
        num_quantizers=qu["n_q"], sliding_window=tr["context"])
    hf = transformers.MimiModel(hf_cfg)
    rules = [
        (r"^downsample\.conv\.conv\.conv\.", "encoder.downsample.conv."),
        (r"^upsample\.convtr\.convtr\.convtr\.", "decoder.upsample.conv."),
        (r"^(encoder|decoder)\.model\.", r"\1.\1_seanet.layers."), (r"\.conv\.conv\.", ".conv."),
        (r"\.convtr\.convtr\.", ".conv."),
        (r"^(encoder|decoder)_transformer\.transformer\.layers\.", r"\1.\1_transformer.layers."),
        (r"\.self_attn\.out_projs\.0\.", ".self_attn.o_proj."), (r"\.norm1\.", ".input_layernorm."),
        (r"\.norm2\.", ".post_attention_layernorm."), (r"\.linear1\.", ".mlp.fc1."), (r"\.linear2\.", ".mlp.fc2."),
        (r"\.layer_scale_1\.", ".self_attn_layer_scale."), (r"\.layer_scale_2\.", ".mlp_layer_scale."),
        (r"^quantizer\.rvq_first\.", "quantizer.semantic_residual_vector_quantizer."),
        (r"^quantizer\.rvq_rest\.", "quantizer.acoustic_residual_vector_quantizer."),
        (r"\.vq\.layers\.(\d+)\._codebook\.", r".layers.\1.codebook."), (r"\._initialized$", ".initialized"),
        (r"\.embedding_sum$", ".embed_sum"),
    ]
    state = {}
    for k, v in model.state_dict().items():
        if ".self_attn.in_projs.0." in k:  # fused q/k/v
            base = _rename(k.replace(".self_attn.in_projs.0.weight", ""), rules)
            heads = cfg["transformer"]["num_heads"]
            for name, part in zip(("q_proj", "k_proj", "v_proj"), v.chunk(3, dim=0), strict=True):
                if name != "v_proj":  # moshi rotates interleaved pairs, transformers the two halves of a head
                    part = part.view(heads, part.shape[0] // heads // 2, 2, -1).transpose(1, 2).reshape(part.shape)
                state[f"{base}.self_attn.{name}.weight"] = part.contiguous()
            continue
        state[_rename(k, rules)] = v
    _load_exact(hf, state)
    hf.save_pretrained(str(folder))
    return folder


# -- shared -------------------------------------------------------------------------------------------
def _rename(key: str, rules) -> str:
    for pat, repl in rules:
        key = re.sub(pat, repl, key)
    return key


def _fold_weight_norm(state: dict) -> dict:
    """weight_g / weight_v pairs -> weight = g * v / ||v|| (over every dim but 0), as torch computes it."""
    import torch

    out = {}
    for k, v in state.items():
        if k.endswith(".weight_g"):
            continue
        if k.endswith(".weight_v"):
            base = k[: -len("_v")]
            out[base] = torch._weight_norm(v, state[base + "_g"], 0)
        else:
            out[k] = v
    return out


def _load_exact(hf, state: dict) -> None:
    """Load every tensor of ``hf`` from ``state``: no key missing or left over, shapes equal."""
    want = hf.state_dict()
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    assert not missing and not extra, f"weight mapping: missing {missing[:6]}, unexpected {extra[:6]}"
    for k, v in want.items():
        assert tuple(state[k].shape) == tuple(v.shape), f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
    hf.load_state_dict(state, strict=True)


def distinct_share(codes: list[np.ndarray]) -> list[int]:
    return [len(np.unique(c)) for c in codes]
