"""Training for robustness and its evaluation: augmentation, condition clips, validation, progress, presets."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codecbench import audio
from codecbench.data import conditions as cond
from codecbench.data import load_dataset
from codecbench.errors import ConfigError
from codecbench.inhouse.augment import Augmenter
from codecbench.inhouse.config import AUGMENT_PRESETS, AugmentConfig
from codecbench.inhouse.progress import TrainProgress
from codecbench.inhouse.train import main as train_main
from codecbench.inhouse.train_args import add_arguments, resolve

torch.set_num_threads(1)
SR = 16000
TINY = ["--dim", "16", "--mlp-ratio", "2", "--encoder-blocks", "1", "--decoder-blocks", "1", "--latent-dim", "8",
        "--n-quantizers", "4", "--codebook-size", "16", "--phase-iters", "2"]


def _speechlike(seconds: float, f0: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))
    wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 30) if f0 * h < 7900) * env * 0.1
    return (wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _band_db(x: np.ndarray, lo: float, hi: float = SR / 2) -> float:
    """Energy in [lo, hi) Hz relative to the energy below 3 kHz, dB (Hann-windowed: no edge leakage)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].sum() / spec[f < 3000].sum() + 1e-30))


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    return torch.from_numpy(np.stack([_speechlike(0.64, 100 + 30 * i, i) for i in range(6)]))


def _aug(cfg: AugmentConfig, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return Augmenter(cfg, SR)(x, np.random.default_rng(seed))


def test_each_augmentation_does_what_its_parameters_say(crops):
    # band-limiting: the raised-cosine mask is exactly 0 above cutoff + width/2 (<= 3400 + 300 Hz)
    y = _aug(AugmentConfig(lowpass=1.0, lowpass_hz=(3400, 3400), highpass=0.0), crops).numpy()
    assert all(_band_db(row, 3700) < -100 for row in y)
    # level: the peak is the drawn level; clipping: the peak drops by the drawn amount, the rest is kept
    y = _aug(AugmentConfig(level=1.0, level_db=(-40, -40)), crops)
    assert torch.allclose(y.abs().amax(1), torch.full((6,), 10 ** (-40 / 20)), rtol=1e-5)
    y = _aug(AugmentConfig(clip=1.0, clip_db=(6, 6)), crops)
    assert torch.allclose(y.abs().amax(1), crops.abs().amax(1) / 10 ** (6 / 20), rtol=1e-5)
    small = crops.abs() < crops.abs().amax(1, keepdim=True) / 10 ** (6 / 20)
    assert torch.equal(y[small], crops[small])
    # noise: the SNR over the crop is the drawn one (scaled exactly)
    y = _aug(AugmentConfig(noise=1.0, snr_db=(20, 20)), crops)
    snr = 10 * torch.log10(crops.pow(2).sum(1) / (y - crops).pow(2).sum(1))
    assert torch.allclose(snr, torch.full((6,), 20.0), atol=1e-3)
    # µ-law via 8 kHz: nothing above 4 kHz; 8-bit µ-law keeps >= 25 dB SNR on the band-limited speech
    y = _aug(AugmentConfig(mulaw=1.0), crops).numpy()
    ref = _aug(AugmentConfig(lowpass=1.0, lowpass_hz=(3800, 3800), highpass=0.0), crops).numpy()
    assert all(_band_db(row, 4000) < -60 for row in y)
    assert all(10 * np.log10((r[400:-400] ** 2).sum() / ((r - o)[400:-400] ** 2).sum()) > 25 for r, o in zip(ref, y, strict=True))
    # reverberation keeps the peak and changes the waveform
    y = _aug(AugmentConfig(reverb=1.0), crops)
    assert torch.allclose(y.abs().amax(1), crops.abs().amax(1), rtol=1e-5) and not torch.equal(y, crops)


def test_augmentation_is_per_crop_and_repeatable(crops):
    cfg = AugmentConfig(noise=0.5, level=0.5)
    a, b = _aug(cfg, crops, seed=3), _aug(cfg, crops, seed=3)
    assert torch.equal(a, b)
    untouched = [torch.equal(a[i], crops[i]) for i in range(6)]
    assert any(untouched) and not all(untouched)
    assert torch.equal(_aug(AugmentConfig(), crops), crops)  # nothing drawn: the input as is


def test_conditions_derive_the_documented_signals(tmp_path):
    x = _speechlike(2.0, 140, 0)
    x = x / np.abs(x).max() * 0.5  # no derived clip exceeds full scale (none is renormalised)
    for name, cut in (("lowpass-3400", 3400), ("lowpass-4000", 4000)):
        y = cond.derive(x, SR, name, "u")
        assert len(y) == len(x) and _band_db(y, cut + 200) < -70  # Kaiser beta 8: ~80 dB stop band
    for name in ("mulaw-8k", "amr-band", "g723-6k3"):  # through 8 kHz: no content above 4 kHz
        y = cond.derive(x, SR, name, "u")
        assert abs(len(y) - len(x)) < 0.05 * SR and _band_db(y, 4500) < -35, name
    for level in (-40, -25, -6):
        assert np.isclose(np.abs(cond.derive(x, SR, f"level{level}dBFS", "u")).max(), 10 ** (level / 20), rtol=1e-5)
    y = cond.derive(x, SR, "clip-10dB", "u")
    assert np.abs(y).max() == 1.0 and np.mean(np.abs(y) == 1.0) > 0.01
    y = cond.derive(x, SR, "noise-20dB", "u")
    noise = y - x
    assert abs(10 * np.log10(cond._active_power(x) / np.mean(noise**2)) - 20) < 0.01
    assert np.array_equal(y, cond.derive(x, SR, "noise-20dB", "u"))  # seeded by the clip id
    with pytest.raises(Exception, match="unknown condition"):
        cond.derive(x, SR, "lowpass-1", "u")


def test_conditions_dataset_is_a_dataset_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    for i in range(2):
        audio.save(src / f"a{i}.wav", _speechlike(0.5, 120 + 50 * i, i), 22050)
    ds = load_dataset(f"conditions=lowpass-4000,level-40dBFS:{src}")
    assert [u.id for u in ds.utterances] == ["lowpass-4000/a0", "level-40dBFS/a0", "lowpass-4000/a1", "level-40dBFS/a1"]
    assert all(u.source_sr == 16000 and u.extra["condition"] in u.id for u in ds.utterances)
    wave, _ = audio.load(ds.utterances[1].path)
    assert np.isclose(np.abs(wave).max(), 0.01, rtol=1e-5)  # float WAV: quiet clips keep their resolution
    again = load_dataset(f"conditions=lowpass-4000,level-40dBFS:{src}")
    assert [u.path for u in again.utterances] == [u.path for u in ds.utterances]  # cached
    with pytest.raises(Exception, match="unknown condition"):
        load_dataset(f"conditions=bogus:{src}")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    rows, copies, val = [], [], []
    for i, (sec, f0) in enumerate([(1.3, 120), (0.9, 210), (1.7, 160)]):
        wave = _speechlike(sec, f0, i)
        audio.save(folder / f"u{i}.wav", wave, SR)
        audio.save(folder / f"c{i}.wav", cond.derive(wave, SR, "lowpass-3400", f"u{i}"), SR)
        rows.append({"id": f"u{i}", "path": f"u{i}.wav", "lang": "xx"})
        copies.append({"id": f"u{i}", "path": f"c{i}.wav"})
    audio.save(folder / "v0.wav", _speechlike(1.2, 180, 9), SR)
    val.append({"id": "v0", "path": "v0.wav"})
    out = {}
    for name, items in (("train", rows), ("copies", copies), ("val", val)):
        out[name] = folder / f"{name}.jsonl"
        out[name].write_text("".join(json.dumps(r) + "\n" for r in items))
    return out


def test_training_with_augmentation_validation_and_progress(data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--manifest", str(data["train"]), "--out", str(out), "--steps", "4", "--threads", "1", "--batch-size", "2",
            "--segment-seconds", "0.4", "--log-every", "2", "--augment", "robust", "--aug-codec", "0.5",
            "--aug-codec-manifest", str(data["copies"]), "--val-manifest", str(data["val"]), "--val-every", "2",
            "--val-conditions", "clean,lowpass-4000", *TINY]
    assert train_main(argv) == 0
    err = capsys.readouterr().err
    assert "step 2/4 loss" in err and "s/step ETA" in err and "validation at step 2" in err
    assert "clean PESQ-wb" in err and "lowpass-4000 PESQ-wb" in err
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["augment"] == {**AUGMENT_PRESETS["robust"].to_dict(), "codec": 0.5}
    assert training["data"]["codec_copy_manifests"] == [str(data["copies"])] and training["data"]["codec_copies"] == 3
    assert training["data"]["utterances"] == 3
    assert training["validation"]["utterances"] == ["v0"] and training["validation"]["last"]["step"] == 4
    rows = [json.loads(x) for x in (out / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4]  # the starting point, every --val-every, the end
    for r in rows:
        for c in ("clean", "lowpass-4000"):
            assert set(r[c]) == {"pesq_wb", "stoi", "mel_distance"}
            assert r[c]["stoi"] is not None and r[c]["mel_distance"] is not None


def test_held_out_validation_needs_enough_utterances(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["--manifest", str(data["train"]), "--out", str(out), "--steps", "1", "--threads", "1",
                       "--batch-size", "2", "--segment-seconds", "0.4", "--val-count", "1", *TINY]) == 0
    assert "validation off: 3 utterances are too few" in capsys.readouterr().err
    assert not (out / "validation.jsonl").exists()


def test_live_progress_line_on_a_terminal():
    stream = io.StringIO()
    prog = TrainProgress(0, 10, float("inf"), log_every=5, stream=stream, tty=True)
    for step in range(1, 6):
        prog.step(step, {"total": 1.5, "mel": 0.2}, 0.25)
    prog.validation(5, "clean PESQ-wb 1.500 STOI 0.800 mel 0.300", 1.0)
    prog.step(6, {"total": 1.4, "mel": 0.2}, 0.25)
    prog.close()
    text = stream.getvalue()
    assert "6/10" in text and "0.250 s/step" in text and "ETA 0m01s" in text
    assert "validation at step 5 (1 s): clean PESQ-wb 1.500" in text and "val clean PESQ-wb 1.500" in text


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_every_train_option_has_help():
    p = argparse.ArgumentParser()
    add_arguments(p)
    missing = [a.dest for a in p._actions if a.dest != "help" and not a.help]
    assert missing == []


def test_cpu_smoke_preset_fills_what_was_not_given():
    args = resolve(_parse("--preset", "cpu-smoke", "--out", "x", "--steps", "3"))
    assert args.steps == 3 and args.dim == 96 and args.val_every == 50 and args.espeak == "de,es,fr,hi"
    args = resolve(_parse("--preset", "cpu-smoke", "--out", "x", "--manifest", "m.jsonl"))
    assert args.espeak is None and args.steps == 250
    args = resolve(_parse("--out", "x", "--manifest", "m.jsonl"))
    assert args.steps == 100000 and args.dim is None and args.val_every == 500
    with pytest.raises(ConfigError, match="no training data"):
        resolve(_parse("--out", "x"))
