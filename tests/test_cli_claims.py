"""README claims tested through the command line: --offline, --save-audio N, --max-batch-seconds,
a codec that raises, --device cuda without CUDA, LaTeX escaping in `report` (runs on a small
synthetic manifest: no ../shared needed)."""

from __future__ import annotations

import os
import socket
from dataclasses import replace

import numpy as np
import pytest
from cli_fixture import cli, manifest, rows
from helpers import MULAW_INFO, mulaw_spec

from codecbench.codecs.registry import CodecSpec, register


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return manifest(tmp_path_factory.mktemp("data"), per_lang=3)


def test_offline_sets_hub_offline_and_never_opens_a_socket(data, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_network(*a, **k):
        raise AssertionError("--offline opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    out = tmp_path / "run"
    bench = tmp_path / "bench.yaml"  # metrics named in a config with require_metrics: false are recorded as
    bench.write_text("metrics: [stoi, spk_sim_ecapa]\nrequire_metrics: false\n")  # unavailable, not refused
    assert cli("run", "--config", bench, "--offline", "--codecs", "opus-6kbps", "--dataset", data,
               "--workers", "0", "--out", out, "-q") == 0
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    r = rows(out)
    assert (r["status"] == "ok").all() and r["stoi"].notna().all()
    assert set(r["spk_sim_ecapa__kind"]) == {"unavailable"}  # no weights here, and not fetched


@pytest.mark.parametrize(("keep", "per_lang"), [("1", 1), ("2", 2), ("none", 0), ("all", 3)])
def test_save_audio_keeps_n_per_codec_and_language(data, tmp_path, keep, per_lang):
    out = tmp_path / "run"
    assert cli("run", "--codecs", "opus-6kbps", "--dataset", data, "--metrics", "si_sdr", "--workers", "0",
               "--save-audio", keep, "--out", out, "-q") == 0
    r = rows(out)
    saved = r[r["audio"] != ""]
    assert saved.groupby("lang").size().reindex(["xx", "yy"], fill_value=0).tolist() == [per_lang] * 2
    for path in saved["audio"]:
        assert (out / path).is_file()
    assert len(list((out / "audio").rglob("*.wav")) if (out / "audio").exists() else []) == 2 * per_lang


class _Spy(type(mulaw_spec().load(None, "cpu"))):
    batches: list[float] = []

    def encode_native(self, wave, lengths):
        _Spy.batches.append(float(np.sum(lengths)) / self.info.sample_rate)
        return super().encode_native(wave, lengths)


def test_max_batch_seconds_caps_every_codec_batch(data, tmp_path):
    info = replace(MULAW_INFO, name="test-spy")
    register(CodecSpec(info=info, load=lambda arg, device: _Spy(info)))
    _Spy.batches.clear()
    assert cli("run", "--codecs", "test-spy", "--dataset", data, "--metrics", "si_sdr", "--workers", "0",
               "--batch-size", "8", "--max-batch-seconds", "2.6", "--out", tmp_path / "a", "-q") == 0
    capped = list(_Spy.batches)
    assert len(capped) > 2 and max(capped) <= 2.6 + 1e-9, capped
    _Spy.batches.clear()
    assert cli("run", "--codecs", "test-spy", "--dataset", data, "--metrics", "si_sdr", "--workers", "0",
               "--batch-size", "8", "--out", tmp_path / "b", "-q") == 0
    assert max(_Spy.batches) > 2.6  # without the cap the same items share bigger batches


class _Raises(type(mulaw_spec().load(None, "cpu"))):
    def encode_native(self, wave, lengths):
        raise RuntimeError("kaboom in the encoder")


def test_a_codec_that_raises_fails_its_rows_with_the_reason(data, tmp_path):
    info = replace(MULAW_INFO, name="test-raises")
    register(CodecSpec(info=info, load=lambda arg, device: _Raises(info)))
    out = tmp_path / "run"
    assert cli("run", "--codecs", "test-raises,opus-6kbps", "--dataset", data, "--metrics", "si_sdr",
               "--workers", "0", "--out", out, "-q") == 0
    r = rows(out)
    bad, good = r[r["codec"] == "test-raises"], r[r["codec"] == "opus-6kbps"]
    assert len(bad) == len(good) == 6
    assert (bad["status"] == "failed").all() and bad["error"].str.contains("kaboom in the encoder").all()
    assert bad["si_sdr"].isna().all() and (good["status"] == "ok").all() and good["si_sdr"].notna().all()


def test_device_auto_picks_cuda_when_torch_sees_one(monkeypatch):
    import torch

    from codecbench.codecs.base import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cuda:1") == "cuda:1"


def test_device_cuda_without_cuda_is_a_one_line_error(data, tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = cli("run", "--device", "cuda", "--codecs", "ours-fsq", "--dataset", data, "--metrics", "si_sdr",
               "--workers", "0", "--out", tmp_path / "run", "-q")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "cuda" in err.lower(), err


def test_latex_tables_escape_every_special_character(data, tmp_path):
    name = "t&%$#_{}~^\\x"
    info = replace(MULAW_INFO, name=name)
    register(CodecSpec(info=info, load=lambda arg, device: type(mulaw_spec().load(None, "cpu"))(info)))
    run = tmp_path / "run"
    assert cli("run", "--codecs", name, "--dataset", data, "--metrics", "si_sdr", "--workers", "0",
               "--out", run, "-q") == 0
    assert cli("report", run, "--out", tmp_path / "rep") == 0
    tex = "\n".join(p.read_text() for p in (tmp_path / "rep").rglob("*.tex"))
    want = r"t\&\%\$\#\_\{\}\textasciitilde{}\textasciicircum{}\textbackslash{}x"
    assert want in tex, tex[:2000]
