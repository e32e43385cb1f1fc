"""Random-weight checkpoints of the pretrained architectures, saved in their hub repositories' layout.

For tests (``size="small"``: real strides, kernels and codebook sizes, tiny channel counts, so the
receptive fields and frame rates are the real ones) and for the throughput benchmark where no real
weights are present (``size="real"``: the released models' shapes, random values). Neither is a
codec anyone should listen to.
"""

from __future__ import annotations

import json
from pathlib import Path

REAL_DAC = {  # sample rate -> (downsampling ratios, codebooks)
    16000: ((2, 4, 5, 8), 12),
    24000: ((2, 4, 5, 8), 32),
    44100: ((2, 4, 8, 8), 9),
}
REAL_SNAC = {  # sample rate -> SNAC kwargs (as in the hub configs)
    24000: dict(encoder_dim=48, encoder_rates=[2, 4, 8, 8], decoder_dim=1024, decoder_rates=[8, 8, 4, 2],
                attn_window_size=None, vq_strides=[4, 2, 1]),
    32000: dict(encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536, decoder_rates=[8, 8, 3, 2],
                attn_window_size=32, vq_strides=[8, 4, 2, 1]),
    44100: dict(encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536, decoder_rates=[8, 8, 3, 2],
                attn_window_size=32, vq_strides=[8, 4, 2, 1]),
}
MODEL_NAMES = ("encodec-24k", "encodec-48k", "dac-16k", "dac-24k", "dac-44k", "mimi", "snac-24k", "snac-32k", "snac-44k")


def build_checkpoint(model: str, folder: str | Path, size: str = "small", seed: int = 0) -> Path:
    """Write a random-weight checkpoint of ``model`` (a name from ``codecbench models``) into ``folder``."""
    import torch

    if size not in ("small", "real"):
        raise ValueError("size is 'small' or 'real'")
    small = size == "small"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if model.startswith("snac-"):
        _build_snac(int({"24k": 24000, "32k": 32000, "44k": 44100}[model[5:]]), folder, small)
        return folder
    import transformers

    if model == "encodec-24k":
        cfg = transformers.EncodecConfig(**(dict(hidden_size=16, num_filters=4) if small else {}))
        net = transformers.EncodecModel(cfg)
    elif model == "encodec-48k":
        cfg = transformers.EncodecConfig(
            sampling_rate=48000, audio_channels=2, normalize=True, chunk_length_s=1.0, overlap=0.01,
            use_causal_conv=False, norm_type="time_group_norm", target_bandwidths=[3.0, 6.0, 12.0, 24.0],
            **(dict(hidden_size=16, num_filters=4) if small else {}),
        )
        net = transformers.EncodecModel(cfg)
    elif model.startswith("dac-"):
        sr = {"16k": 16000, "24k": 24000, "44k": 44100}[model[4:]]
        ratios, n_q = REAL_DAC[sr]
        dims = dict(encoder_hidden_size=2, decoder_hidden_size=16) if small else {}
        cfg = transformers.DacConfig(downsampling_ratios=list(ratios), upsampling_ratios=list(ratios)[::-1], n_codebooks=n_q, sampling_rate=sr, **dims)
        net = transformers.DacModel(cfg)
    elif model == "mimi":
        dims = dict(hidden_size=32, num_filters=4, num_hidden_layers=1, intermediate_size=64, num_attention_heads=2,
                    num_key_value_heads=2, head_dim=16, codebook_dim=16, vector_quantization_hidden_dimension=16,
                    upsample_groups=32) if small else {}
        net = transformers.MimiModel(transformers.MimiConfig(**dims))
    else:
        raise KeyError(f"no random checkpoint recipe for {model!r}; known: {', '.join(MODEL_NAMES)}")
    _randomize_codebooks(net)
    net.save_pretrained(str(folder))
    return folder


def _randomize_codebooks(net) -> None:
    """transformers initialises some codebooks to zeros; random entries make every code reachable."""
    import torch

    with torch.no_grad():
        for name, p in net.named_buffers():
            if name.endswith(("embed", "embed_sum")) and p.is_floating_point():
                p.normal_()
            if name.endswith("cluster_usage"):
                p.fill_(1.0)


def _build_snac(sr: int, folder: Path, small: bool) -> None:
    import torch
    from snac import SNAC

    kwargs = dict(REAL_SNAC[sr])
    if small:  # attention needs 64-channel heads: latent = encoder_dim * 16 = 64
        kwargs.update(encoder_dim=4, decoder_dim=64)
    config = dict(sampling_rate=sr, codebook_size=4096, codebook_dim=8, noise=True, depthwise=True, **kwargs)
    net = SNAC(**config)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.save(net.state_dict(), folder / "pytorch_model.bin")
