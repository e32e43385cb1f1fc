"""Codecs as {name, arg, options, label} (issue 32 part 4): the label names a codec's rows in every table,
plot, LaTeX row, compare id and JUnit name; codec options are declared by the codec, resolved once and
part of the identity; the same codec twice is a warning."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.codecs.registry import CodecSpec, register
from codecbench.config import BenchConfig, CodecEntry
from codecbench.errors import CodecbenchError
from codecbench.pipeline.resolve import resolve
from codecbench.schema import Invalid, Option
from tests.cli_fixture import manifest
from tests.helpers import MULAW_INFO, MulawCodec


def _run(tmp_path: Path, codecs: str, *extra: str) -> Path:
    data = manifest(tmp_path / "data", per_lang=2, seconds=1.0)
    out = tmp_path / "run"
    assert main(["run", "--dataset", str(data), "--codecs", codecs, "--metrics", "si_sdr,bitrate", "--workers", "0",
                 "--out", str(out), "-q", *extra]) == 0
    return out


def test_entries_parse_from_the_command_line_and_yaml(tmp_path):
    assert CodecEntry.parse("mine=ours-rvq:/ckpt/a=b") == CodecEntry("ours-rvq", "/ckpt/a=b", {}, "mine")
    assert CodecEntry.parse("ours-rvq:/x=y") == CodecEntry("ours-rvq", "/x=y")  # '=' after ':' belongs to ARG
    assert CodecEntry.parse("mine=ours-rvq:/x").key == "mine" and CodecEntry.parse("ours-rvq:/x").key == "ours-rvq:/x"
    for bad in ("=opus-6kbps", "a b=opus-6kbps", ".x=opus-6kbps"):
        with pytest.raises(Invalid):
            CodecEntry.parse(bad)
    p = tmp_path / "bench.yaml"
    p.write_text("codecs: [{name: ours-rvq, label: mine, arg: /x, options: {}}, {name: opus-6kbps, label: o6}, "
                 "'o12=opus-12kbps']\n")
    cfg = BenchConfig.load(p)
    assert cfg.codec_keys == ["mine", "o6", "o12"] and cfg.codec("mine").target == "ours-rvq:/x"
    again = tmp_path / "again.yaml"
    again.write_text(cfg.to_yaml())
    assert BenchConfig.load(again) == cfg
    p.write_text("codecs: [x=opus-6kbps, x=opus-12kbps]\n")
    with pytest.raises(CodecbenchError, match="x twice"):
        BenchConfig.load(p)


def test_the_label_names_the_rows_everywhere(tmp_path, capsys):
    run = _run(tmp_path, "mine=opus-6kbps,opus-12kbps")
    err = capsys.readouterr().err
    assert "mine " in err  # the results table
    rows = [json.loads(x) for x in (run / "rows.jsonl").read_text().splitlines()]
    assert {r["codec"] for r in rows} == {"mine", "opus-12kbps"}
    codecs = json.loads((run / "codecs.json").read_text())
    assert codecs["mine"]["name"] == "opus-6kbps"  # the codec behind the label
    assert "| mine |" in (run / "summary.md").read_text().replace("**", "")
    assert main(["report", str(run), "--out", str(tmp_path / "rep"), "--examples", "0"]) == 0
    assert "mine" in (tmp_path / "rep" / "leaderboard.tex").read_text()
    assert "mine" in (tmp_path / "rep" / "leaderboard.md").read_text()
    assert any("mine" in f.read_text() for f in (tmp_path / "rep" / "plots").glob("*.svg"))
    junit = tmp_path / "junit.xml"
    assert main(["compare", str(run), str(run), "--codec", "mine", "--junit", str(junit)]) in (0, 1)
    assert 'classname="codecbench.mine"' in junit.read_text()
    # the mushra re-encode finds the codec behind the label
    assert main(["mushra", str(run), "--codecs", "mine", "--items", "1", "--out", str(tmp_path / "mu"),
                 "--max-seconds", "0"]) == 0


def test_the_same_codec_twice_is_a_warning(capsys):
    cfg = resolve(BenchConfig(codecs=["a=opus-6kbps", "b=opus-6kbps", "opus-12kbps"], metrics=["si_sdr"],
                              device="cpu"))
    err = capsys.readouterr().err
    assert cfg.codec_keys == ["a", "b", "opus-12kbps"]
    assert "warning: codecs a and b are the same codec opus-6kbps" in err and err.count("warning") == 1


@pytest.fixture
def optioned():
    """A codec with a declared option (mu-law with a gain), registered for the test."""
    seen: list[dict] = []
    info = replace(MULAW_INFO, name="test-gain")

    def load(arg, device, gain=1.0):
        seen.append({"gain": gain})
        return MulawCodec(info)

    spec = CodecSpec(info=info, load=load, options={"gain": Option(1.0, "input gain", float)})
    register(spec)
    return spec, seen


def test_codec_options_resolve_into_the_identity_and_reach_the_loader(optioned, tmp_path):
    spec, seen = optioned
    name = spec.name
    a = resolve(BenchConfig(codecs=[{"name": name, "options": {"gain": "0.5"}}], metrics=["si_sdr"], device="cpu"))
    assert a.codecs[0].options == {"gain": 0.5}
    b = resolve(BenchConfig(codecs=[name], metrics=["si_sdr"], device="cpu"))
    assert b.codecs[0].options == {"gain": 1.0}  # the declared default, written into config.yaml
    assert a.identity()["codecs"][name]["options"] != b.identity()["codecs"][name]["options"]
    with pytest.raises(CodecbenchError, match="has no option 'gian'.*gain"):
        resolve(BenchConfig(codecs=[{"name": name, "options": {"gian": 2}}], metrics=["si_sdr"], device="cpu"))
    data = manifest(tmp_path / "data", per_lang=1, seconds=1.0)
    from codecbench.pipeline import run

    run(BenchConfig(dataset=str(data), codecs=[{"name": name, "label": "half", "options": {"gain": 0.5}}],
                    metrics=["si_sdr"], workers=0), out=tmp_path / "run", progress=False)
    assert seen[-1] == {"gain": 0.5}
    text = (tmp_path / "run" / "config.yaml").read_text()
    assert "label: half" in text and "gain: 0.5" in text
