"""SpeechBrain-compatible filterbank front end (80 mels, 25 ms Hamming, n_fft 400, hop 160, power
spectrum, HTK mels, 10*log10 with amin 1e-10 and top_db 80) and sentence mean normalisation."""

from __future__ import annotations

import math

SR = 16000


def _hz_to_mel(hz):
    return 2595.0 * math.log10(1.0 + hz / 700.0)


class SbFbank:
    """SpeechBrain ``lobes.features.Fbank`` (deltas/context off) in plain torch."""

    def __init__(self, n_mels: int = 80, sample_rate: int = SR, n_fft: int = 400, win_length: float = 25,
                 hop_length: float = 10, f_min: float = 0, f_max: float | None = None, amin: float = 1e-10,
                 ref_value: float = 1.0, top_db: float = 80.0):
        import torch

        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win = int(round(sample_rate / 1000.0 * win_length))
        self.hop = int(round(sample_rate / 1000.0 * hop_length))
        self.window = torch.hamming_window(self.win)
        f_max = f_max if f_max is not None else sample_rate / 2
        mel = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
        hz = 700.0 * (10 ** (mel / 2595.0) - 1.0)
        band = (hz[1:] - hz[:-1])[:-1]
        f_central = hz[1:-1]
        all_freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1)
        slope = (all_freqs[None, :] - f_central[:, None]) / band[:, None]
        self.fbank = torch.clamp(torch.minimum(slope + 1.0, -slope + 1.0), min=0.0).T  # [n_stft, n_mels]
        self.amin = amin
        self.db_offset = 10.0 * math.log10(max(amin, ref_value))
        self.top_db = top_db

    def __call__(self, wavs):
        """[B, T] waves -> [B, frames, n_mels] log-mel filterbanks."""
        import torch

        spec = torch.stft(wavs, self.n_fft, self.hop, self.win, self.window.to(wavs.device), center=True,
                          pad_mode="constant", normalized=False, onesided=True, return_complex=True)
        power = (spec.real ** 2 + spec.imag ** 2).transpose(1, 2)  # [B, frames, n_stft]
        fb = power @ self.fbank.to(wavs.device)
        db = 10.0 * torch.log10(torch.clamp(fb, min=self.amin)) - self.db_offset
        floor = db.amax(dim=(-2, -1)) - self.top_db
        return torch.maximum(db, floor.view(-1, 1, 1))


def sentence_mean_norm(feats, lengths, std_norm: bool = False):
    """SpeechBrain ``InputNormalization(norm_type='sentence')`` with relative lengths, as speechbrain 1.x
    computes it: the valid frames are t < length x frames - 1e-6, the std is the biased one (clamped at
    1e-10). (speechbrain 0.5 rounded length x frames instead: one frame more or fewer on some batch items.)"""
    import torch

    out = feats.clone()
    frames = torch.arange(feats.shape[1], device=feats.device)
    for i in range(feats.shape[0]):
        n = max(1, int((frames < lengths[i] * feats.shape[1] - 1e-6).sum()))  # in lengths' dtype, as SpeechBrain
        seg = feats[i, :n]
        mean = seg.mean(dim=0)
        std = seg.std(dim=0, unbiased=False).clamp(min=1e-10) if std_norm else 1.0
        out[i] = (feats[i] - mean) / std
    return out
