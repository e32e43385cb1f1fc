"""Small builders shared by tests: the example plugin's mu-law token codec, a NaN codec, speech-like audio."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from codecbench.codecs.registry import CodecSpec
from codecbench.metrics.base import Metric, MetricInfo, MetricInput, Output

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters" / "example-plugin" / "src"))
from codecbench_example import INFO as MULAW_INFO  # noqa: E402
from codecbench_example import MulawCodec  # noqa: E402

__all__ = ["MULAW_INFO", "mulaw_spec", "nan_spec", "speechlike", "write_random_ecapa", "CrashingMetric"]


class NanCodec(MulawCodec):
    def decode_native(self, encoded, lengths):
        out = super().decode_native(encoded, lengths)
        out[0, :10] = np.nan  # the first item of each batch goes bad
        return out


def mulaw_spec() -> CodecSpec:
    return CodecSpec(info=MULAW_INFO, load=lambda arg, device: MulawCodec(MULAW_INFO))


def nan_spec() -> CodecSpec:
    info = replace(MULAW_INFO, name="test-nan")
    return CodecSpec(info=info, load=lambda arg, device: NanCodec(info))


def speechlike(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated harmonic tone with noise: enough structure for every signal metric."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) ** 2
    return (0.2 * x * env + 0.005 * rng.standard_normal(len(t))).astype(np.float32)


HYPERPARAMS = """# ############################################################################
# Model: ECAPA (small, random weights written by codecbench's tests)
# ############################################################################

n_mels: 80
pretrained_path: {folder}

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [64, 64, 64, 64, 192]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 16
    res2net_scale: 8
    se_channels: 16
    lin_neurons: 32

classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 32
    out_neurons: 4

mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    mean_var_norm_emb: !ref <mean_var_norm_emb>
    classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm_emb: !ref <mean_var_norm_emb>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def write_random_ecapa(folder: Path) -> dict:
    """An ECAPA-TDNN with random weights saved in SpeechBrain's folder layout; returns its state dict."""
    import torch

    from codecbench.metrics.speaker.ecapa_net import EcapaTdnn

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = EcapaTdnn(80, lin_neurons=32, channels=[64, 64, 64, 64, 192], attention_channels=16,
                              se_channels=16)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as in a trained model
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    torch.save(model.state_dict(), folder / "embedding_model.ckpt")
    torch.save({"glob_mean": torch.zeros(32), "glob_std": torch.ones(32), "count": 1}, folder / "mean_var_norm_emb.ckpt")
    torch.save({"weight": torch.randn(4, 32)}, folder / "classifier.ckpt")
    (folder / "label_encoder.txt").write_text("'a' => 0\n'b' => 1\n'c' => 2\n'd' => 3\n================\n'starting_index' => 0\n")
    (folder / "hyperparams.yaml").write_text(HYPERPARAMS.format(folder=folder))
    return model.state_dict()



class CrashingMetric(Metric):
    """A signal metric that kills its worker process (SIGSEGV) on utterances whose id starts with 'crash'."""

    name = "test_crash"

    def info(self) -> MetricInfo:
        return MetricInfo(name=self.name, outputs=(Output("test_crash"),), default=False)

    def compute(self, x: MetricInput) -> dict[str, float]:
        import os
        import signal

        if x.utterance.id.startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return {"test_crash": 1.0}
