"""🤗 datasets and Lhotse manifests as input (issue 28): the same clips read from a save_to_disk folder, a
hub-layout cache loaded offline, a streamed local repository, a Lhotse CutSet and a RecordingSet +
SupervisionSet give the same utterances, rows and values as the equivalent JSONL manifest; segments,
limits before decoding, pinned revisions and user errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from codecbench import audio
from codecbench.codecs.registry import register
from codecbench.config import BenchConfig
from codecbench.data import DatasetError, load_dataset, sources
from codecbench.pipeline import run
from tests.helpers import mulaw_spec, speechlike

SHA = "0123456789abcdef0123456789abcdef01234567"
METRICS = ["si_sdr", "stoi", "bitrate"]


@pytest.fixture(scope="module", autouse=True)
def _test_codecs():
    register(mulaw_spec())


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Six FLAC clips (hi at 16 kHz, ta at 22.05 kHz) and their JSONL manifest."""
    root = tmp_path_factory.mktemp("clips")
    items = []
    for i in range(3):
        for lang, sr in (("hi", 16000), ("ta", 22050)):
            uid = f"{lang}{i}"
            audio.save(root / f"{uid}.flac", speechlike(0.8 + 0.3 * i, sr, seed=i), sr)
            items.append({"id": uid, "path": f"{uid}.flac", "lang": lang, "text": f"text {uid}", "speaker": f"s{lang}"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    return root, items


def _hf_dataset(root: Path, items: list[dict]):
    from datasets import Audio, Dataset

    return Dataset.from_dict({"id": [r["id"] for r in items], "audio": [str(root / r["path"]) for r in items],
                              "language": [r["lang"] for r in items], "sentence": [r["text"] for r in items],
                              "speaker_id": [r["speaker"] for r in items]}).cast_column("audio", Audio())


def _lhotse(root: Path, items: list[dict]):
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recs = RecordingSet.from_recordings([Recording.from_file(root / r["path"], recording_id=r["id"]) for r in items])
    sups = SupervisionSet.from_segments([
        SupervisionSegment(id=r["id"], recording_id=r["id"], start=0.0, duration=recs[r["id"]].duration, channel=0,
                           text=r["text"], language=r["lang"], speaker=r["speaker"]) for r in items])
    return recs, sups, CutSet.from_manifests(recordings=recs, supervisions=sups)


def _same_utterances(a, b) -> None:
    key = ("id", "lang", "text", "speaker", "source_sr", "duration")
    assert [tuple(getattr(u, k) for k in key) for u in a.utterances] == \
        [tuple(getattr(u, k) for k in key) for u in b.utterances]


def _values(out: Path) -> pd.DataFrame:
    df = pd.read_parquet(out / "utterances.parquet")
    cols = [c for c in df.columns if c not in ("run_id", "computed_at", "batch_size") and not c.startswith("rtf")]
    return df[cols].sort_values(["codec", "utt_id"]).reset_index(drop=True)


def _run(dataset: str, out: Path, **kw) -> Path:
    return run(BenchConfig(dataset=dataset, codecs=["example-mulaw-8k"], metrics=METRICS, workers=0, **kw),
               out=out, progress=False)


# -- 🤗 datasets -------------------------------------------------------------------------------------
def test_save_to_disk_run_equals_the_jsonl_manifest_run(clips, tmp_path):
    root, items = clips
    _hf_dataset(root, items).save_to_disk(str(tmp_path / "sd"))
    ds = load_dataset(str(tmp_path / "sd"))
    assert all(u.source and "arrow" in u.source and u.path is None for u in ds.utterances)  # bytes in the Arrow file
    _same_utterances(load_dataset(str(root / "manifest.jsonl")), ds)
    a, b = _run(str(root / "manifest.jsonl"), tmp_path / "a"), _run(str(tmp_path / "sd"), tmp_path / "b")
    pd.testing.assert_frame_equal(_values(a), _values(b))  # same decoder, same samples: exactly equal
    assert len(_values(b)) == 6 and _values(b)["si_sdr"].notna().all()
    cfg = (b / "config.yaml").read_text()
    assert f"dataset_revision: {ds.revision}" in cfg  # the fingerprint is part of the identity


def test_save_to_disk_refuses_another_fingerprint_and_reads_a_dataset_dict(clips, tmp_path):
    from datasets import DatasetDict

    root, items = clips
    DatasetDict({"train": _hf_dataset(root, items[:2]), "test": _hf_dataset(root, items)}).save_to_disk(str(tmp_path / "dd"))
    assert len(load_dataset(str(tmp_path / "dd")).utterances) == 6  # "test" is read when no split is named
    assert len(load_dataset(str(tmp_path / "dd" / "train")).utterances) == 2
    with pytest.raises(DatasetError, match="fingerprint deadbeef"):
        load_dataset(str(tmp_path / "dd"), revision="deadbeef")


def test_limit_per_language_is_applied_before_decoding(clips, tmp_path, monkeypatch):
    root, items = clips
    _hf_dataset(root, items).save_to_disk(str(tmp_path / "sd"))
    probed = []
    real = sources.info
    monkeypatch.setattr(sources, "info", lambda u: probed.append(u.id) or real(u))
    ds = load_dataset(str(tmp_path / "sd"), langs=["ta"], limit=2)
    assert [u.id for u in ds.utterances] == ["ta0", "ta1"] and probed == ["ta0", "ta1"]
    assert ds.langs == ["hi", "ta"]  # the languages seen while listing, for filter_langs' messages


def test_columns_named_by_option_and_fixed_language(clips, tmp_path):
    from datasets import Audio, ClassLabel, Dataset

    root, items = clips
    d = Dataset.from_dict({"speech": [str(root / r["path"]) for r in items], "transcription": [r["text"] for r in items],
                           "key": [f"k{i}" for i in range(6)], "gender": [0, 1] * 3})
    d = d.cast_column("speech", Audio()).cast_column("gender", ClassLabel(names=["female", "male"]))
    d.save_to_disk(str(tmp_path / "sd"))
    ds = load_dataset(str(tmp_path / "sd"), lang="xx", columns={"id": "key"})
    u = ds.utterances[1]
    assert (u.id, u.lang, u.text, u.extra["gender"]) == ("k1", "xx", "text ta0", "male")
    with pytest.raises(DatasetError, match="no column 'nope'"):
        load_dataset(str(tmp_path / "sd"), columns={"text": "nope"})
    no_id = Dataset.from_dict({"audio": [str(root / "hi0.flac")]}).cast_column("audio", Audio())
    no_id.save_to_disk(str(tmp_path / "noid"))
    assert load_dataset(str(tmp_path / "noid")).utterances[0].id == "hi0"  # the clip's file name


def _hub_cache(home: Path, root: Path, items: list[dict], sha: str = SHA) -> None:
    """The prepared 🤗 datasets cache of a hub dataset ``me/tiny`` (configs hi and ta), as an online
    ``load_dataset`` leaves it: ``<cache>/me___tiny/<config>/0.0.0/<commit>/{dataset_info.json, tiny-test.arrow}``."""
    import datasets

    full = _hf_dataset(root, items)
    full.save_to_disk(str(home / "tmp"))
    full = datasets.load_from_disk(str(home / "tmp"))
    for lang in ("hi", "ta"):
        part = full.filter(lambda x, lang=lang: x == lang, input_columns="language").flatten_indices()
        folder = home / "datasets" / "me___tiny" / lang / "0.0.0" / sha
        folder.mkdir(parents=True)
        shutil.copy(part.cache_files[0]["filename"], folder / "tiny-test.arrow")
        info = part.info.copy()
        info.config_name, info.dataset_name = lang, "tiny"
        info.splits = datasets.SplitDict({"test": datasets.SplitInfo("test", num_examples=len(part), dataset_name="tiny")})
        info.write_to_directory(str(folder))


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return tmp_path / "hf"


def test_hub_cache_read_offline_pins_the_commit(clips, tmp_path, offline_hub):
    root, items = clips
    _hub_cache(offline_hub, root, items)
    ds = load_dataset("hf:me/tiny:ta:test")
    assert [u.id for u in ds.utterances] == ["ta0", "ta1", "ta2"] and ds.revision == SHA and ds.name == "tiny-ta-test"
    out = _run("hf:me/tiny:ta", tmp_path / "run", langs=["ta"])
    assert f"dataset_revision: {SHA}" in (out / "config.yaml").read_text()
    manifest = _run(str(root / "manifest.jsonl"), tmp_path / "m", langs=["ta"])
    pd.testing.assert_frame_equal(_values(out), _values(manifest))
    with pytest.raises(DatasetError, match="pins commit 89abcdef"):
        load_dataset("hf:me/tiny:ta", revision="89abcdef")
    with pytest.raises(DatasetError, match="not in the local 🤗 datasets cache and offline"):
        load_dataset("hf:me/absent")
    with pytest.raises(DatasetError, match="no split 'train'; it has: test"):
        load_dataset("hf:me/tiny:ta:train")


def test_local_repository_is_streamed_under_a_limit(clips, tmp_path, monkeypatch):
    """A hub-layout repository folder (parquet shards + README) not prepared yet: with --limit only the kept
    rows are read, their encoded bytes kept unchanged under $CODECBENCH_CACHE/hf."""
    import datasets

    root, items = clips
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hfcache"))
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    _hf_dataset(root, items).save_to_disk(str(tmp_path / "sd"))
    datasets.load_from_disk(str(tmp_path / "sd")).to_parquet(str(repo / "data" / "test-00000-of-00001.parquet"))
    (repo / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n"
                                    "    path: data/test-*\n---\n")
    ds = load_dataset(f"hf:{repo}", limit=1)
    assert [u.id for u in ds.utterances] == ["hi0", "ta0"]
    assert all(Path(u.path).is_relative_to(tmp_path / "cache" / "hf") for u in ds.utterances)
    assert Path(ds.utterances[0].path).read_bytes() == (root / "hi0.flac").read_bytes()
    assert not (tmp_path / "hfcache").exists() or not any((tmp_path / "hfcache").rglob("*.arrow"))  # not prepared


# -- Lhotse ------------------------------------------------------------------------------------------
def test_lhotse_cuts_and_recordings_equal_the_manifest(clips, tmp_path):
    root, items = clips
    recs, sups, cuts = _lhotse(root, items)
    cuts.modify_ids(lambda cid: cid.rsplit("-", 1)[0]).to_file(tmp_path / "cuts.jsonl.gz")
    recs.to_file(tmp_path / "tiny_recordings_test.jsonl.gz")
    sups.to_file(tmp_path / "tiny_supervisions_test.jsonl")
    manifest = load_dataset(str(root / "manifest.jsonl"))
    for spec in ("cuts.jsonl.gz", "tiny_recordings_test.jsonl.gz", "tiny_supervisions_test.jsonl"):
        ds = load_dataset(str(tmp_path / spec))
        _same_utterances(manifest, ds)
        assert all(u.source is None and u.path == m.path for u, m in zip(ds.utterances, manifest.utterances, strict=True))
    a, b = _run(str(root / "manifest.jsonl"), tmp_path / "a"), _run(str(tmp_path / "cuts.jsonl.gz"), tmp_path / "b")
    pd.testing.assert_frame_equal(_values(a), _values(b))


def test_lhotse_segments_and_channels_are_honoured(clips, tmp_path):
    from lhotse import CutSet, Recording

    root, items = clips
    _, _, cuts = _lhotse(root, items)
    seg = cuts[1].truncate(offset=0.2, duration=0.4).with_id("seg")
    stereo = tmp_path / "stereo.wav"
    left, right = speechlike(1.0, 16000, seed=7), speechlike(1.0, 16000, seed=8)
    import soundfile as sf

    sf.write(stereo, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    right_only = Recording.from_file(stereo, recording_id="st").to_cut().with_channels(1).with_id("right")
    CutSet.from_cuts([seg, right_only]).to_file(tmp_path / "cuts.jsonl")
    ds = load_dataset(str(tmp_path / "cuts.jsonl"))
    u, r = ds.utterances
    assert (u.source_sr, u.duration, u.lang, u.text) == (22050, round(0.4 * 22050) / 22050, "ta", "text ta0")
    wave, sr = sources.read(u)
    full, _ = audio.load(root / "ta0.flac", mono=False)
    start = round(0.2 * sr)
    assert np.array_equal(wave, full[:, start:start + round(0.4 * sr)])  # exactly the file's samples there
    right_wave, _ = sources.read(r)
    whole, _ = audio.load(stereo, mono=False)
    assert right_wave.shape == (1, 16000) and np.array_equal(right_wave[0], whole[1])
    out = _run(str(tmp_path / "cuts.jsonl"), tmp_path / "run")
    rows = _values(out)
    assert rows["status"].eq("ok").all() and rows.set_index("utt_id").loc["seg", "duration"] == pytest.approx(0.4, abs=1e-4)


def test_lhotse_limit_and_refusals(clips, tmp_path):
    from lhotse import CutSet

    root, items = clips
    recs, sups, cuts = _lhotse(root, items)
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    ds = load_dataset(str(tmp_path / "cuts.jsonl.gz"), langs=["hi"], limit=2)
    assert [u.id.split("-")[0] for u in ds.utterances] == ["hi0", "hi1"]
    assert load_dataset(str(tmp_path / "cuts.jsonl.gz"), lang="en").langs == ["en"]  # dataset_lang replaces
    CutSet.from_cuts([cuts[0].perturb_speed(1.1)]).to_file(tmp_path / "speed.jsonl")
    with pytest.raises(DatasetError, match="has transforms"):
        load_dataset(str(tmp_path / "speed.jsonl"))
    CutSet.from_cuts([cuts[0].mix(cuts[2])]).to_file(tmp_path / "mixed.jsonl")  # two 16 kHz clips
    with pytest.raises(DatasetError, match="MixedCut"):
        load_dataset(str(tmp_path / "mixed.jsonl"))
    recs.to_file(tmp_path / "alone.jsonl.gz")
    with pytest.raises(DatasetError, match="does not say 'recordings'"):
        load_dataset(str(tmp_path / "alone.jsonl.gz"))


def test_options_on_the_command_line_and_in_a_config(capsys):
    from codecbench.cli import build_parser, main, run_config
    from codecbench.config import ConfigError

    args = build_parser("run").parse_args(["run", "--dataset", "hf:org/set:hi:test", "--dataset-columns",
                                           "text=sentence, id=path", "--dataset-lang", "hi", "--dataset-revision",
                                           "abc1234", "--log-to", "wandb,mlflow", "--log-project", "p"])
    cfg = run_config(args)
    assert (cfg.dataset_columns, cfg.dataset_lang, cfg.dataset_revision, cfg.log_to, cfg.log_project) == \
        ({"text": "sentence", "id": "path"}, "hi", "abc1234", ["wandb", "mlflow"], "p")
    ident = cfg.identity()
    assert ident["dataset_columns"] == {"text": "sentence", "id": "path"} and "log_to" not in ident
    assert BenchConfig.from_dict({"log_to": "wandb"}).log_to == ["wandb"]
    for bad, match in (({"log_to": ["neptune"]}, "log_to must be one of wandb, mlflow, not 'neptune'"),
                       ({"dataset_columns": {"wav": "x"}}, "maps roles"),
                       ({"dataset_lang": ""}, "dataset_lang must be a non-empty string")):
        with pytest.raises(ConfigError, match=match):
            BenchConfig.from_dict(bad)
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--dataset-columns", "text"])
    assert exit_.value.code == 2
    assert "--dataset-columns: expected ROLE=COLUMN" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="dataset_columns name a 🤗 dataset's columns"):
        load_dataset(str(Path(__file__).parent / "fixtures"), "folder", columns={"text": "x"})
