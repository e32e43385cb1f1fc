"""In-house codecs: training, checkpoint I/O, resumption, and the ours-* adapters (tiny models, CPU)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from codecbench import audio
from codecbench.codecs import inhouse as adapter
from codecbench.codecs.registry import all_specs, load_codec
from codecbench.inhouse import checkpoint as ckpt
from codecbench.inhouse.config import CheckpointMismatch, ModelConfig
from codecbench.inhouse.model import InhouseModel
from codecbench.inhouse.train import main as train_main
from codecbench.testing import check_codec, inhouse_margins

# Exact equalities below compare computations that run the same operations in the same order on the same
# machine (reload vs original, resumed vs straight training, forward vs encode -> codes -> decode_codes,
# which share one decoding path at inference; the adapter decodes each item alone, so batched vs single is
# the same computation too), with one torch thread: they hold on any CPU, whatever kernels it picks.
# Comparisons of *different* float computations carry a bound derived from float32 rounding instead.
torch.set_num_threads(1)
TINY = ["--dim", "16", "--mlp-ratio", "2", "--encoder-blocks", "1", "--decoder-blocks", "1", "--latent-dim", "8",
        "--n-quantizers", "4", "--codebook-size", "16", "--fsq-codebooks", "2", "--fsq-levels", "5,3"]


def _tiny_config(kind: str) -> ModelConfig:
    return ModelConfig(kind=kind, dim=16, mlp_ratio=2, encoder_blocks=1, decoder_blocks=1, latent_dim=8,
                       n_quantizers=4, codebook_size=16, fsq_codebooks=2, fsq_levels=(5, 3))


def _speechlike(seconds: float, f0: float, seed: int, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))
    wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * env * 0.1
    return (wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    rows = []
    for i, (sec, f0) in enumerate([(1.3, 120), (0.9, 210), (1.7, 160)]):
        audio.save(folder / f"u{i}.wav", _speechlike(sec, f0, i), 16000)
        rows.append(json.dumps({"id": f"u{i}", "path": f"u{i}.wav", "lang": "xx"}))
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def _train(manifest: Path, out: Path, kind: str, steps: int, *extra: str) -> Path:
    argv = ["--kind", kind, "--manifest", str(manifest), "--out", str(out), "--steps", str(steps), "--threads", "1",
            "--batch-size", "2", "--segment-seconds", "0.4", "--log-every", "1", "--save-every", "100", *TINY, *extra]
    assert train_main(argv) == 0
    return out


@pytest.fixture(scope="module")
def trained(manifest, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    return {kind: _train(manifest, root / kind, kind, 3) for kind in ("rvq", "fsq", "vae")}


@pytest.mark.parametrize("kind", ["rvq", "fsq", "vae"])
def test_train_save_reload_gives_identical_outputs(trained, kind, tmp_path):
    folder = trained[kind]
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and all(math.isfinite(r["total"]) for r in log)
    meta = json.loads((folder / "config.json").read_text())
    assert meta["training"]["steps"] == 3 and meta["model"]["kind"] == kind

    model = ckpt.load_checkpoint(folder, kind=kind)
    again = ckpt.load_checkpoint(ckpt.save_checkpoint(model, tmp_path / "copy"), kind=kind)
    x = torch.from_numpy(_speechlike(0.7, 140, 7))[None, None]
    with torch.inference_mode():
        y1, o1 = model(x)
        y2, o2 = again(x)
    assert torch.equal(y1, y2)
    assert (o1.codes is None) == (kind == "vae")
    if o1.codes is not None:
        assert torch.equal(o1.codes, o2.codes)
        with torch.inference_mode():  # codes alone reproduce the decoder output: one decoding path
            assert torch.equal(model.decode_codes(o1.codes)[..., : x.shape[-1]], y1)
    assert not any(p.suffix in (".pt", ".pth", ".pkl", ".bin") for p in folder.iterdir())  # no pickle
    stored = ckpt.load_tensors(folder / "model.safetensors")  # shipped as float16, computed in float32
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("seconds", [0.003, 0.02, 0.05])
def test_very_short_inputs_keep_their_length(seconds):
    model = InhouseModel(_tiny_config("rvq")).eval()
    x = torch.from_numpy(_speechlike(seconds, 140, 1))[None, None]
    with torch.inference_mode():
        y, out = model(x)
    assert y.shape == x.shape and out.codes.shape[-1] == math.ceil(x.shape[-1] / 320) and torch.isfinite(y).all()


def _inconsistency(model: InhouseModel, z: torch.Tensor, spec_of) -> float:
    """Spectral convergence between the decoder's predicted magnitude and its output's STFT magnitude."""
    dec = model.decoder
    with torch.inference_mode():
        y = dec(z)[:, 0]
        h = dec.head(dec.backbone(z)).float().view(1, -1, 2, dec.bins)
        want = h[:, :, 0].clamp(max=6.0).exp().transpose(1, 2)
        got = spec_of(y).abs()[..., : want.shape[-1]]
    return float(torch.linalg.norm(got - want) / torch.linalg.norm(want))


def test_phase_refinement_makes_the_output_consistent_and_only_at_inference():
    torch.manual_seed(0)
    cfg = _tiny_config("rvq")
    cfg.phase_iters = 0
    model = InhouseModel(cfg).eval()
    z = torch.randn(1, cfg.latent_dim, 40)
    stft = lambda y: torch.stft(y, cfg.n_fft, cfg.stft_hop, window=model.decoder.window,  # noqa: E731
                                center=True, return_complex=True)
    raw = _inconsistency(model, z, stft)
    cfg.phase_iters = 32
    refined = _inconsistency(model, z, stft)
    assert refined < 0.7 * raw  # the output's magnitude is much closer to the predicted one
    model.train()
    with torch.no_grad():
        y_train = model.decoder(z)
    cfg.phase_iters = 0
    with torch.no_grad():
        assert torch.equal(model.decoder(z), y_train)  # training decodes the network's phase as is


def test_a_config_saved_before_phase_refinement_decodes_as_then():
    d = _tiny_config("rvq").to_dict()
    assert d.pop("phase_iters") == 32  # new models refine by default
    assert ModelConfig.from_dict(d).phase_iters == 0


@pytest.mark.parametrize("kind", ["fsq", "vae"])
def test_init_from_copies_matching_tensors(trained, kind):
    from codecbench.inhouse.train import init_from

    model = InhouseModel(_tiny_config(kind))
    fresh = init_from(model, str(trained["rvq"]))
    src = ckpt.load_tensors(trained["rvq"] / "trainer_state.safetensors")
    assert "encoder.out.weight" in fresh and "decoder.backbone.blocks.0.mlp.0.weight" not in fresh
    assert torch.equal(model.state_dict()["decoder.head.weight"], src["model.decoder.head.weight"])


def test_resume_continues_exactly(manifest, tmp_path):
    straight = _train(manifest, tmp_path / "straight", "rvq", 4)
    part = _train(manifest, tmp_path / "part", "rvq", 2)
    _train(manifest, part, "rvq", 4, "--resume")
    a = ckpt.load_tensors(straight / "model.safetensors")
    b = ckpt.load_tensors(part / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert json.loads((part / "config.json").read_text())["training"]["steps"] == 4


def test_adversarial_training_runs_and_resumes(manifest, tmp_path):
    out = _train(manifest, tmp_path / "adv", "rvq", 1, "--adversarial")
    _train(manifest, out, "rvq", 2, "--adversarial", "--resume")
    last = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 2 and {"adv", "fm", "disc"} <= set(last)


def test_mismatched_config_is_rejected_with_a_clear_error(trained, tmp_path):
    src = trained["rvq"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes())
    meta = json.loads((src / "config.json").read_text())
    meta["model"]["codebook_size"] = 32
    (bad / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointMismatch, match=r"do not match the model config.*codebook.*\(16, 8\) vs config \(32, 8\)"):
        ckpt.load_checkpoint(bad)
    meta["model"]["codebook_size"] = 16
    meta["model"]["n_quantizers"] = 6
    (bad / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointMismatch, match="missing"):
        ckpt.load_checkpoint(bad)
    meta["model"]["bogus"] = 1
    (bad / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointMismatch, match="unknown field"):
        ckpt.load_checkpoint(bad)
    with pytest.raises(CheckpointMismatch, match="is a 'fsq' model, expected a 'rvq' model"):
        load_codec(f"ours-rvq:{trained['fsq']}", device="cpu")
    with pytest.raises(CheckpointMismatch, match="needs 9 quantizers"):
        adapter.load("rvq", "ours-rvq-9q", 9, str(src), "cpu")


def test_description_states_the_measured_standing(trained, tmp_path):
    folder = tmp_path / "rvq"
    folder.mkdir()
    for f in ("model.safetensors", "config.json"):
        (folder / f).write_bytes((trained["rvq"] / f).read_bytes())
    assert "not evaluated against Opus" in load_codec(f"ours-rvq:{folder}", device="cpu").info.description
    meta = json.loads((folder / "config.json").read_text())
    meta["evaluation"] = {"verdict": "DEMO QUALITY: loses to opus-6kbps"}  # a claim without evidence (issue 24)
    (folder / "config.json").write_text(json.dumps(meta))
    described = load_codec(f"ours-rvq:{folder}", device="cpu").info.description
    assert "loses to opus-6kbps" not in described and "without its evidence" in described
    from codecbench.claims import Difference, EvalSet, Standing

    standing = Standing("ours-rvq", "opus-6kbps", EvalSet("held-out set", 20, ("hi",)),
                        (Difference("pesq_wb", "PESQ-wb", True, 20, -0.4, -0.5, -0.3, 0.0001),))
    meta["evaluation"] = {"standings": [standing.to_dict()]}
    (folder / "config.json").write_text(json.dumps(meta))
    described = load_codec(f"ours-rvq:{folder}", device="cpu").info.description
    assert "worse than opus-6kbps on PESQ-wb" in described and "PESQ-wb -0.400 [-0.500, -0.300], p < 0.001" in described


def test_quantizer_variants_have_non_increasing_bitrate(trained):
    specs = all_specs()
    rvq = [specs["ours-rvq"]] + sorted((s for n, s in specs.items() if n.startswith("ours-rvq-")),
                                       key=lambda s: -int(s.name.split("-")[-1][:-1]))
    rates = [s.info.nominal_bitrate for s in rvq]
    counts = [len(s.info.codebooks) for s in rvq]
    assert counts[1:] == list(range(counts[0], 0, -1))
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False)) and rates[-1] > 0
    assert specs["ours-vae"].info.nominal_bitrate is None and specs["ours-vae"].info.latent_rate > 0
    assert specs["ours-fsq"].info.nominal_bitrate > 0
    # the same holds for a checkpoint given by path
    loaded = [load_codec(f"ours-rvq-{n}q:{trained['rvq']}", device="cpu").info.nominal_bitrate for n in (4, 3, 2, 1)]
    assert loaded == sorted(loaded, reverse=True) and loaded[0] == 4 * 50 * math.log2(16)


@pytest.mark.parametrize("name", ["ours-rvq", "ours-rvq-2q", "ours-fsq", "ours-vae"])
@pytest.mark.parametrize("sr", [16000, 24000])
def test_adapter_lengths_codes_and_batching(trained, name, sr):
    kind = name.split("-")[1]
    codec = load_codec(f"{name}:{trained[kind]}", device="cpu")
    lengths = np.array([int(0.83 * sr), int(0.41 * sr), int(0.6 * sr)])
    items = [audio.resample(_speechlike(n / sr, 100 + 40 * i, i), 16000, sr)[:n] for i, n in enumerate(lengths)]
    items = [audio.fit_length(w, int(n)) for w, n in zip(items, lengths, strict=True)]
    batch, lengths = audio.pad_batch(items)
    rec = codec.reconstruct(batch, lengths, sr)
    assert rec.wave.shape == batch.shape and list(rec.lengths) == list(lengths)
    for b, n in enumerate(lengths):
        assert np.all(rec.wave[b, n:] == 0)
        if kind != "vae":
            native = audio.resampled_length(int(n), sr, 16000)
            assert [len(c) for c in rec.codes[b]] == [math.ceil(native / 320)] * len(codec.info.codebooks)
            sizes = [lvl.size for lvl in codec.info.codebooks]
            assert all(0 <= c.min() and c.max() < s for c, s in zip(rec.codes[b], sizes, strict=True))
    if sr == 16000:  # batched == single (codes may flip only at near ties), lengths, resampling
        check_codec(f"{name}:{trained[kind]}", margins=None if kind == "vae" else inhouse_margins)
    if kind == "vae":
        assert rec.codes is None and codec.info.latent_dim == 8 and codec.info.latent_rate == 8 * 50


def test_fsq_codes_roundtrip():
    model = InhouseModel(_tiny_config("fsq")).eval()
    z = torch.randn(2, model.cfg.bottleneck_dim, 5) * 3
    out = model.bottleneck(z)
    assert out.codes.shape == (2, 2, 5) and int(out.codes.max()) < 15
    # z_q is the straight-through (b + (round(b) - b)) / half, decode_codes the level round(b) / half: both
    # equal that level up to two float32 roundings of values of magnitude <= 1 (Higham, eq. 2.4), elementwise
    # and on any CPU, so they differ by at most 4 eps (|z_q| + 1); a wrong digit would differ by >= 1 / half.
    decoded = model.bottleneck.decode_codes(out.codes)
    assert torch.all((decoded - out.z_q).abs() <= 4 * torch.finfo(torch.float32).eps * (out.z_q.abs() + 1))


def test_dead_codes_are_restarted():
    torch.manual_seed(0)  # the data below was drawn from whatever state earlier tests left: one of the five
    model = InhouseModel(_tiny_config("rvq")).train()  # "dead" entries could be nearest to a point and live
    cb = model.bottleneck.codebooks[0]
    x = torch.randn(64, 8)
    cb.update(x, cb.nearest(x))  # initialises from the data
    cb.cluster_size[:5] = 0.0  # five entries never used
    assert cb.update(x, cb.nearest(x)) >= 5


def test_train_command_is_registered():
    from codecbench.cli import build_parser

    args = build_parser().parse_args(["train", "--manifest", "m.jsonl[16:-20]", "--out", "o", "--kind", "fsq"])
    assert args.func.__name__ == "cmd_train" and args.kind == "fsq"


def test_manifest_slices(manifest):
    from codecbench.inhouse.data import read_manifest

    assert [i.id for i in read_manifest(f"{manifest}[1:]")] == ["u1", "u2"]
    assert [i.id for i in read_manifest(f"{manifest}[:-1]")] == ["u0", "u1"]


@pytest.mark.parametrize("kind", ["rvq", "fsq", "vae"])
def test_bundled_checkpoints_load_by_default(kind):
    folder = adapter.bundled_checkpoint(kind)  # shipped in the package: never skipped
    for name in ("model.safetensors", "config.json", "TRAINING.md"):
        assert (folder / name).is_file(), f"shipped checkpoint file missing: {folder / name}"
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 10 * 2**20
    assert (folder / "TRAINING.md").is_file()
    codec = load_codec(f"ours-{kind}", device="cpu")
    spec_info = all_specs()[f"ours-{kind}"].info  # static metadata (read from config.json) matches the model
    assert dataclasses.replace(codec.info, description=spec_info.description) == spec_info
    wave = _speechlike(0.5, 150, 3)
    rec = codec.reconstruct(wave[None], np.array([len(wave)]), 16000)
    assert rec.wave.shape == (1, len(wave)) and np.isfinite(rec.wave).all()


def test_a_changed_checkpoint_is_another_run(trained, manifest, tmp_path):
    import shutil

    from codecbench.config import BenchConfig, ConfigError
    from codecbench.errors import CodecbenchError
    from codecbench.pipeline import run
    from codecbench.pipeline.resolve import resolve

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["rvq"], ckpt)
    cfg = BenchConfig(dataset=str(manifest), codecs=[f"ours-rvq:{ckpt}"], metrics=["si_sdr"], limit=1, workers=0)
    run_dir = run(cfg, out=tmp_path / "run", progress=False)
    before = resolve(cfg)
    assert list(before.codec_revisions) == [f"ours-rvq:{ckpt}"]
    run(BenchConfig.load(run_dir / "config.yaml"), out=run_dir, progress=False)  # same weights: resumes
    meta = json.loads((ckpt / "config.json").read_text())
    meta["model"]["phase_iters"] = 4  # another decoder: another checkpoint, though the tensors are the same
    (ckpt / "config.json").write_text(json.dumps(meta))
    after = resolve(cfg)
    assert after.codec_revisions != before.codec_revisions and after.identity() != before.identity()
    with pytest.raises(CodecbenchError, match="codec_revisions"):
        run(cfg, out=run_dir, progress=False)  # its rows were decoded with the old one
    with pytest.raises(ConfigError, match="another checkpoint"):
        resolve(BenchConfig.load(run_dir / "config.yaml"))
