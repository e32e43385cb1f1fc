"""BenchConfig: YAML schema, CLI overrides, --metric-opt, resolution (defaults, environment fallbacks read
once), identity and the one-line errors for unknown keys and options."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.config import BenchConfig, ConfigError, MetricSpec, identity_diff
from codecbench.errors import CodecbenchError, UnknownName
from codecbench.pipeline.resolve import resolve


def test_yaml_schema_round_trips(tmp_path):
    p = tmp_path / "bench.yaml"
    p.write_text("codecs: [opus-6kbps, {name: ours-rvq, arg: /x}]\nmetrics: [pesq_wb, {name: wer, beam: 1}]\n"
                 "langs: [hi]\nlimit: 3\n")
    cfg = BenchConfig.load(p)
    assert [str(c) for c in cfg.codecs] == ["opus-6kbps", "ours-rvq:/x"]
    assert cfg.metrics == [MetricSpec("pesq_wb"), MetricSpec("wer", {"beam": 1})]
    again = tmp_path / "again.yaml"
    again.write_text(cfg.to_yaml())
    assert BenchConfig.load(again) == cfg


@pytest.mark.parametrize("text, words", [
    ("codec: [opus-6kbps]\n", ["unknown key", "'codec'", "did you mean 'codecs'"]),
    ("batch_size: 0\n", ["batch_size", ">= 1"]),
    ("max_batch_seconds: .nan\n", ["max_batch_seconds", "finite"]),
    ("metrics: []\n", ["metrics", "empty"]),
    ("device: gpu\n", ["device", "auto, cpu, cuda"]),
    ("engine: spark\n", ["engine", "local, ray"]),
    ("metrics: [{beam: 1}]\n", ["a metric is a name"]),
    ("[1, 2]\n", ["expected a mapping"]),
    ("a: [\n", ["not valid YAML"]),
])
def test_bad_config_files_are_one_line_errors(tmp_path, text, words):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        BenchConfig.load(p)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_unknown_metric_option_names_the_valid_ones():
    with pytest.raises(UnknownName) as e:
        resolve(BenchConfig(codecs=["opus-6kbps"], metrics=[{"name": "wer", "beem": 1}]))
    assert "'beem'" in str(e.value) and "beam" in str(e.value) and "compute_type" in str(e.value)
    with pytest.raises(ConfigError, match="expected int"):
        resolve(BenchConfig(codecs=["opus-6kbps"], metrics=[{"name": "wer", "beam": "wide"}]))
    with pytest.raises(ConfigError, match="not one of"):
        resolve(BenchConfig(codecs=["opus-6kbps"], metrics=[{"name": "wer", "backend": "kaldi"}]))


def test_resolution_fills_options_and_reads_the_environment_once(monkeypatch):
    monkeypatch.setenv("CODECBENCH_ASR_BEAM", "3")
    cfg = resolve(BenchConfig(codecs=["opus-6kbps"], metrics=["pesq", "wer"], device="cpu"))
    assert [m.name for m in cfg.metrics] == ["pesq_wb", "pesq_nb", "wer"]  # a family expands
    wer = cfg.metrics[2].options
    assert wer == {"backend": "auto", "model": "base", "revision": "", "per_lang": {}, "compute_type": "int8",
                   "beam": 3, "threads": 1, "normalizer": "script", "normalizer_source": "openai/whisper-large-v3"}
    monkeypatch.setenv("CODECBENCH_ASR_BEAM", "7")  # read at resolution, never inside the metric
    from codecbench.metrics.registry import create

    assert "beam 3" in create("wer", wer).info().mode
    explicit = resolve(BenchConfig(codecs=["opus-6kbps"], metrics=[{"name": "wer", "beam": 2}], device="cpu"))
    assert explicit.metrics[0].options["beam"] == 2  # the config wins over the environment


def test_identity_holds_value_options_not_execution_options():
    a = resolve(BenchConfig(codecs=["opus-6kbps"], metrics=[{"name": "wer", "beam": 5}], device="cpu", workers=1))
    b = resolve(BenchConfig(codecs=["opus-6kbps"], metrics=[{"name": "wer", "beam": 1}], device="cpu", workers=4))
    assert identity_diff(a.identity(), b.identity()) == ["metrics.wer.beam"]
    c = resolve(BenchConfig(codecs=["opus-6kbps"], metrics=[{"name": "wer", "beam": 5}], device="cpu",
                            workers=3, save_audio="all"))
    assert identity_diff(a.identity(), c.identity()) == []


def test_cli_flags_override_the_file_and_metric_opt(tmp_path):
    from codecbench.cli import build_parser, run_config

    p = tmp_path / "bench.yaml"
    p.write_text("codecs: [opus-6kbps]\nmetrics: [pesq_wb, {name: wer, beam: 5}]\nlimit: 3\n")
    args = build_parser().parse_args(["run", "--config", str(p), "--limit", "1", "--metric-opt", "wer.beam=2",
                                      "--metric-opt", "wer.model=/models/x"])
    cfg = run_config(args)
    assert cfg.limit == 1 and [str(c) for c in cfg.codecs] == ["opus-6kbps"]
    assert cfg.metrics[1] == MetricSpec("wer", {"beam": 2, "model": "/models/x"})
    args = build_parser().parse_args(["run", "--config", str(p), "--metric-opt", "dnsmos.x=1"])
    with pytest.raises(CodecbenchError, match="not in this run's metrics"):
        run_config(args)
    args = build_parser().parse_args(["run", "--metrics", "pesq", "--metric-opt", "pesq.mode=nb"])
    with pytest.raises(CodecbenchError, match="names a family"):
        run_config(args)


def test_cli_errors_are_one_line(tmp_path, capsys):
    p = tmp_path / "bench.yaml"
    p.write_text("codecz: []\n")
    assert main(["run", "--config", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "codecz" in err
    assert main(["run", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", "--metrics", ","])
    assert e.value.code == 2 and capsys.readouterr().err.strip().count("\n") == 0


def test_models_lists_what_the_resolved_config_uses(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "whisper"
    folder.mkdir()
    p = tmp_path / "bench.yaml"
    p.write_text(f"codecs: [opus-6kbps]\nmetrics: [pesq_wb, {{name: wer, model: {folder}}}, spk_sim_ge2e]\n")
    assert main(["models", "--config", str(p), "--json"]) == 0
    import json

    rows = {r["used_by"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["wer"]["model"] == str(folder) and not rows["wer"]["available"] and "model.bin" in rows["wer"]["reason"]
    assert rows["spk_sim_ge2e"]["available"] and rows["opus-6kbps"]["kind"] == "codec" and "pesq_wb" not in rows
    monkeypatch.setenv("CODECBENCH_WHISPER_MODEL", str(folder))  # an environment fallback counts too
    assert main(["models", "--metrics", "wer", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["model"] == str(folder)


def test_example_config_resolves():
    cfg = resolve(BenchConfig.load(Path(__file__).resolve().parents[1] / "configs" / "indic.yaml"))
    assert cfg.langs == ["hi", "ta"] and "wer" in [m.name for m in cfg.metrics] and cfg.require_metrics is False


def _bomb(levels: int = 9, key: str = "langs") -> str:
    """A billion-laughs YAML under ``key``: 10**levels values once its aliases are expanded."""
    rows = ["  - &l0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"  - &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return f"{key}:\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("text, words", [
    (_bomb(9, "langs"), ["aliases expand to more than", "alias bomb"]),
    (_bomb(9, "run_id"), ["aliases expand to more than"]),
    ("run_id: &a [*a]\n", ["recursive"]),
    ("langs: " + "[" * 5000 + "]" * 5000 + "\n", ["not valid YAML"]),
    ("dataset: 5\n", ["dataset must be a string", "not 5"]),
    ("run_id: [a, b]\n", ["run_id must be", "not ['a', 'b']"]),
    ("run_id: ../../x\n", ["run_id must be", "never a path"]),
    ("offline: 'yes'\n", ["offline must be true or false", "'yes'"]),
    ("require_metrics: maybe\n", ["require_metrics must be true or false", "'maybe'"]),
    ("limit: 2.5\n", ["limit must be a whole number >= 1"]),
    ("langs: {hi: 1}\n", ["langs must be a list"]),
    ("codecs: 5\n", ["codecs must be a list of codecs"]),
    ("codecs: [{name: ours-rvq, arg: [1]}]\n", ["codecs has an arg of 'ours-rvq' that is not a text"]),
    ("codecs: ['bad label=opus-6kbps']\n", ["codecs has a bad label 'bad label'"]),
    ("save_audio: true\n", ["save_audio must be a number, 'all' or 'none'"]),
    ("workers: -1\n", ["workers must be a whole number >= 0"]),
    ("shard: 3/2\n", ["shard must be K/N"]),
    ("device: 5\n", ["device must be auto, cpu, cuda or cuda:N"]),
    ("dataset_format: wav\n", ["dataset_format must be one of auto, manifest"]),
    ("min_duration: 5\nmax_duration: 4\n", ["min_duration (5.0) must be below max_duration (4.0)"]),
    ("bitrate: {sys: 6}\n", ["bitrate is for scored pairs"]),
    ("degraded: x\ndataset_format: folder\ndataset: y\n", ["degraded scores pairs"]),
])
def test_every_config_field_is_type_checked_in_one_line(tmp_path, text, words):
    """Issue 25 part 4: hostile YAML fails fast (alias bombs, recursion, deep nesting) and every field is
    checked against its declaration, each with a one-line error naming the key."""
    import time

    p = tmp_path / "bad.yaml"
    p.write_text(text)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        BenchConfig.load(p)
    assert time.perf_counter() - start < 5  # fails fast (an expanded bomb would take minutes or all memory)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400 and all(w in msg for w in words), msg


def test_run_id_is_never_a_path(tmp_path, capsys):
    """``--run-id ../../x`` writes nothing outside results/: it is refused before any work."""
    from tests.cli_fixture import manifest

    data = manifest(tmp_path / "data", per_lang=1)
    for bad in ("../../x", "a/b", "..", ".hidden", "/abs"):
        with pytest.raises(SystemExit) as e:
            main(["run", "--dataset", str(data), "--codecs", "opus-6kbps", "--metrics", "si_sdr", "--run-id", bad])
        assert e.value.code == 2 and "never a path" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not Path("results/x").exists()
    cfg = BenchConfig(run_id="ok-1.2_3+x")
    cfg.validate("test")


def test_fields_declare_their_options_once():
    """The options of run and score are generated from the field declarations (one dataset_format list)."""
    from codecbench.cli import build_parser
    from codecbench.config import DATASET_FORMATS
    from codecbench.schema import settings

    run = build_parser("run")._subparsers._group_actions[0].choices["run"]
    flags = {a.dest: a for a in run._actions}
    declared = {k for k, (s, _) in settings(BenchConfig).items() if "run" in s.commands}
    assert declared <= set(flags) and {"limit", "codecs", "dataset_format", "run_id", "offline"} <= declared
    assert flags["dataset_format"].type.values == DATASET_FORMATS
    assert "(default: 8)" in flags["batch_size"].help
    score = build_parser("score")._subparsers._group_actions[0].choices["score"]
    assert {"workers", "device", "max_duration", "run_id", "engine", "bitrate", "metrics"} <= {a.dest for a in score._actions}
