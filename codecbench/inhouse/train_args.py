"""The options of ``codecbench train`` (kept free of torch: ``codecbench --help`` imports this).

Each value is checked where it is parsed (codecbench.schema kinds as argparse types); the rules between
options and what must exist here are in ``check_args``, before anything is loaded or written. A new
option plugs in the same way: ``type=Whole(1)``, ``Number(0, 1)``, ``Choice(...)``; a rule: a function
of the parsed args returning a problem (or None) in ``RULES``.

Options a ``--preset`` can set default to None here; ``resolve`` fills them from the preset, then from
``DEFAULTS``, so a flag given on the command line always wins over the preset.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codecbench.device import DEVICE_PATTERN
from codecbench.errors import ConfigError
from codecbench.inhouse.config import AUGMENT_PRESETS, AugmentConfig, ModelConfig
from codecbench.schema import Number, Numbers, Text, Whole

WEIGHT = Number(0)  # a loss weight
PROBABILITY = Number(0, 1)

DEFAULTS = {
    "steps": 100000, "max_minutes": None, "batch_size": 16, "segment_seconds": 0.64, "lr": 1e-3,
    "lr_decay": 0.99995, "warmup": 100, "log_every": 10, "save_every": 200, "val_every": 500, "val_count": 8,
    "val_conditions": "clean", "espeak": None, "augment": "none",
}
PRESETS = {
    # A small model from scratch on espeak-ng speech (when no --manifest is given): about 1.1 CPU-seconds a
    # step, validation (4 held-out utterances, clean) every 50 steps; STOI 0.45 -> 0.69 and mel distance
    # 2.4 -> 1.2 in a measured run on a shared 2-core CPU (docs/training.md).
    "cpu-smoke": {
        "steps": 250, "max_minutes": 8.0, "batch_size": 8, "segment_seconds": 0.64, "lr": 2e-3, "warmup": 20,
        "lr_decay": 1.0, "log_every": 10, "save_every": 250, "val_every": 50, "val_count": 4, "threads": 2,
        "dim": 96, "mlp_ratio": 2, "encoder_blocks": 2, "decoder_blocks": 2, "n_quantizers": 8, "phase_iters": 8,
        "espeak_if_no_manifest": "de,es,fr,hi",
    },
}
MODEL_INTS = ("n-fft", "stft-hop", "frame-hop", "dim", "mlp-ratio", "encoder-blocks", "decoder-blocks", "kernel-size",
              "latent-dim", "n-quantizers", "codebook-size", "fsq-codebooks", "phase-iters")
MODEL_FLOATS = ("quantizer-dropout", "dead-code-threshold", "ema-decay")
MODEL_HELP = {
    "n-fft": "STFT window of the encoder input and decoder output (samples)",
    "stft-hop": "STFT hop (samples)", "frame-hop": "samples per code frame (a multiple of --stft-hop)",
    "dim": "ConvNeXt width", "mlp-ratio": "ConvNeXt MLP expansion", "encoder-blocks": "ConvNeXt blocks in the encoder",
    "decoder-blocks": "ConvNeXt blocks in the decoder", "kernel-size": "depthwise kernel over frames",
    "latent-dim": "encoder output per frame (RVQ input, VAE latent size)", "n-quantizers": "RVQ codebooks",
    "codebook-size": "entries per RVQ codebook", "fsq-codebooks": "FSQ groups",
    "phase-iters": "inference-only fast Griffin-Lim iterations (0: off)",
    "quantizer-dropout": "share of RVQ steps with a random number of quantizers",
    "dead-code-threshold": "EMA usage per step below which an RVQ entry is restarted", "ema-decay": "RVQ EMA decay",
}


def _d(name: str) -> str:
    return f" (default {DEFAULTS[name]})"


def model_kind(name: str):
    """The option type of a model field: the checkpoint guard's type and bounds (``guard.BOUNDS``), so the
    command line accepts exactly the architectures a checkpoint may declare."""
    from codecbench.inhouse.guard import BOUNDS

    typ, lo, hi, *most = BOUNDS[name.replace("-", "_")]
    if typ is list:
        return Numbers(Whole(lo, hi), most=most[0])
    return Whole(lo, hi) if typ is int else Number(lo, hi)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=["rvq", "fsq", "vae"], default="rvq", help="bottleneck (default rvq)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="defaults for a purpose; flags given explicitly win. cpu-smoke: a small model that "
                        "improves visibly in a few minutes on 2 CPU cores (espeak-ng speech when no --manifest)")
    p.add_argument("--manifest", nargs="+", default=[],
                   help="JSONL manifest(s), paths relative to each; 'm.jsonl[16:-20]' picks utterances by position")
    p.add_argument("--espeak", default=None, help="also synthesize espeak-ng speech in these languages (e.g. de,es)")
    p.add_argument("--espeak-dir", default=None, help="where to write it (default: OUT/espeak)")
    p.add_argument("--out", required=True, help="output folder: checkpoint, trainer state, log.jsonl, validation.jsonl")
    p.add_argument("--resume", action="store_true", help="continue from the trainer state in --out")
    p.add_argument("--steps", type=Whole(1), default=None, help="stop after this many optimizer steps" + _d("steps"))
    p.add_argument("--max-minutes", type=Number(0, above=True), default=None, help="stop (and save) after this much wall time")
    p.add_argument("--batch-size", type=Whole(1), default=None, help="crops per step" + _d("batch_size"))
    p.add_argument("--segment-seconds", type=Number(0, above=True), default=None, help="crop length" + _d("segment_seconds"))
    p.add_argument("--lr", type=Number(0, above=True), default=None, help="peak learning rate (AdamW)" + _d("lr"))
    p.add_argument("--betas", type=Numbers(Number(0, 1, below=True), 2), default=[0.8, 0.99], help="Adam betas (default 0.8,0.99)")
    p.add_argument("--lr-decay", type=Number(0, 1, above=True), default=None, help="per-step exponential decay" + _d("lr_decay"))
    p.add_argument("--warmup", type=Whole(0), default=None, help="linear warm-up steps (0: none)" + _d("warmup"))
    p.add_argument("--grad-clip", type=Number(0, above=True), default=10.0, help="gradient norm clip (default 10)")
    p.add_argument("--device", type=Text("auto, cpu, cuda or cuda:N", DEVICE_PATTERN), default="auto", help="auto, cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--threads", type=Whole(1), default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA (ignored on CPU)")
    p.add_argument("--init-from", default=None,
                   help="start from a checkpoint folder's tensors where names and shapes match (e.g. FSQ from RVQ)")
    p.add_argument("--seed", type=Whole(0), default=0, help="seed of crops, augmentation and initialisation (default 0)")
    p.add_argument("--log-every", type=Whole(1), default=None, help="steps between log lines" + _d("log_every"))
    p.add_argument("--save-every", type=Whole(1), default=None, help="steps between saves" + _d("save_every"))
    v = p.add_argument_group("validation (held-out utterances, scored while training)")
    v.add_argument("--val-every", type=Whole(0), default=None, help="steps between validations, 0: none" + _d("val_every"))
    v.add_argument("--val-manifest", nargs="+", default=None,
                   help="held-out manifest(s) (default: the last --val-count utterances of the data, kept out of "
                        "training; validation is off when the data has fewer than 4x that many)")
    v.add_argument("--val-count", type=Whole(1), default=None, help="utterances validated" + _d("val_count"))
    v.add_argument("--val-conditions", default=None,
                   help="comma-separated conditions (codecbench.data.conditions) computed in-process, e.g. "
                        "clean,lowpass-4000,noise-20dB,level-40dBFS" + _d("val_conditions"))
    a = p.add_argument_group("augmentation (each crop is the input and the target; recorded in config.json)")
    a.add_argument("--augment", choices=sorted(AUGMENT_PRESETS), default=None,
                   help="probabilities of a recipe; robust: " + ", ".join(
                       f"{k} {v}" for k, v in AUGMENT_PRESETS["robust"].to_dict().items()
                       if not isinstance(v, list) and v) + _d("augment"))
    base = AugmentConfig()
    for name, what in (("reverb", "synthetic room reverberation"), ("noise", "coloured Gaussian noise"),
                       ("level", "random peak level"), ("clip", "hard clipping"),
                       ("mulaw", "8-bit µ-law through 8 kHz"), ("lowpass", "random band-limiting"),
                       ("codec", "a crop from the codec copies (--aug-codec-manifest)")):
        a.add_argument(f"--aug-{name}", type=PROBABILITY, default=None, help=f"probability of {what} per crop")
    for name, what in (("rt60", "reverberation time, s"), ("snr-db", "noise SNR, dB"),
                       ("level-db", "peak level, dBFS"), ("clip-db", "clipping threshold below the peak, dB"),
                       ("lowpass-hz", "low-pass cutoff, Hz")):
        a.add_argument(f"--aug-{name}", type=Numbers(Number(), 2), default=None,
                       help=f"{what}: LOW,HIGH (default {','.join(f'{x:g}' for x in getattr(base, name.replace('-', '_')))})")
    a.add_argument("--aug-codec-manifest", nargs="+", default=None,
                   help="manifest(s) of the training utterances passed through a low-bitrate codec, same ids "
                        "(bench/gpu_bundle.py makes Opus ones)")
    g = p.add_argument_group("model (ignored with --resume: the checkpoint's config wins)")
    defaults = ModelConfig()
    for name in MODEL_INTS + MODEL_FLOATS:  # types and ranges: the checkpoint guard's bounds
        g.add_argument(f"--{name}", type=model_kind(name), default=None,
                       help=f"{MODEL_HELP[name]} (default {getattr(defaults, name.replace('-', '_'))})")
    g.add_argument("--fsq-levels", type=model_kind("fsq-levels"), default=None,
                   help="FSQ levels per group, comma-separated (default 8,5,5,5)")
    w = p.add_argument_group("loss weights")
    w.add_argument("--w-wave", type=WEIGHT, default=0.0, help="waveform L1 (default 0: the phase is generated)")
    w.add_argument("--w-stft", type=WEIGHT, default=1.0, help="multi-resolution STFT loss (default 1)")
    w.add_argument("--w-mel", type=WEIGHT, default=5.0, help="multi-resolution log-mel L1 (default 5)")
    w.add_argument("--w-commit", type=WEIGHT, default=0.25, help="RVQ commitment (default 0.25)")
    w.add_argument("--w-kl", type=WEIGHT, default=1e-3, help="VAE KL (default 0.001)")
    w.add_argument("--w-adv", type=WEIGHT, default=1.0, help="adversarial hinge loss, with --adversarial (default 1)")
    w.add_argument("--w-fm", type=WEIGHT, default=2.0, help="discriminator feature matching, with --adversarial (default 2)")
    p.add_argument("--adversarial", action="store_true", help="add multi-period + multi-scale STFT discriminators")
    p.add_argument("--adv-start", type=Whole(0), default=0, help="first step with adversarial losses (default 0)")


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill preset-able options (preset, then DEFAULTS); check what needs data. Returns ``args``."""
    preset = PRESETS.get(args.preset or "", {})
    for key, value in preset.items():
        if key != "espeak_if_no_manifest" and getattr(args, key, None) is None:
            setattr(args, key, value)
    if not args.manifest and args.espeak is None and "espeak_if_no_manifest" in preset:
        args.espeak = preset["espeak_if_no_manifest"]
    for key, value in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not args.manifest and not args.espeak:
        raise ConfigError("no training data: give --manifest (and/or --espeak LANGS, or --preset cpu-smoke)")
    return args


def augment_config(args: argparse.Namespace) -> AugmentConfig:
    cfg = AugmentConfig.from_dict(AUGMENT_PRESETS[args.augment].to_dict())
    for name in ("reverb", "noise", "level", "clip", "mulaw", "lowpass", "codec", "rt60", "snr_db", "level_db",
                 "clip_db", "lowpass_hz"):
        value = getattr(args, f"aug_{name}", None)
        if value is not None:
            setattr(cfg, name, value)
    if cfg.codec > 0 and not args.aug_codec_manifest:
        if args.aug_codec is not None:
            raise ConfigError("--aug-codec needs --aug-codec-manifest (codec copies of the training utterances)")
        cfg.codec = 0.0  # a recipe's codec share without copies: off (and recorded as 0)
    return cfg


def _manifests(args: argparse.Namespace) -> str | None:
    from codecbench.inhouse.data import parse_manifest_arg

    given = [*args.manifest, *(args.val_manifest or ()), *(args.aug_codec_manifest or ())]
    missing = [str(path) for path in (parse_manifest_arg(m)[0] for m in given) if not path.is_file()]
    return f"manifest not found: {', '.join(missing)}" if missing else None


def _model(args: argparse.Namespace) -> str | None:
    """The model the options describe (when not resuming): its derived sizes (guard.check_model_dict)."""
    from dataclasses import asdict

    from codecbench.inhouse.guard import check_model_dict

    if not args.resume:
        cfg = model_config(args)
        check_model_dict({**asdict(cfg), "fsq_levels": list(cfg.fsq_levels)}, "the model options")
        segment = int(round(args.segment_seconds * cfg.sample_rate))
        if segment < cfg.hop_length:
            return (f"--segment-seconds {args.segment_seconds:g} is shorter than one code frame "
                    f"({cfg.hop_length / cfg.sample_rate:g} s)")
    return None


def _init_from(args: argparse.Namespace) -> str | None:
    if args.init_from and not Path(args.init_from).is_dir():
        return f"--init-from: no checkpoint folder at {args.init_from}"
    return None


def _validation(args: argparse.Namespace) -> str | None:
    from codecbench.data.conditions import CONDITIONS, TOOLS

    bad = [c for c in args.val_conditions.split(",") if c and (c not in CONDITIONS or c in TOOLS)]
    if bad:
        return (f"--val-conditions: {', '.join(bad)} cannot be computed in-process; choose from "
                f"{', '.join(c for c in CONDITIONS if c not in TOOLS)}")
    return None


def _ranges(args: argparse.Namespace) -> str | None:
    for name in ("rt60", "snr_db", "level_db", "clip_db", "lowpass_hz"):
        pair = getattr(args, f"aug_{name}", None)
        if pair is not None and pair[0] > pair[1]:
            return f"--aug-{name.replace('_', '-')}: LOW,HIGH with LOW <= HIGH, not {pair[0]:g},{pair[1]:g}"
    return None


RULES = (_manifests, _model, _init_from, _validation, _ranges)


def check_args(args: argparse.Namespace) -> None:
    """Everything the options ask for that the parser cannot see: the device, the files, the model's
    derived sizes, the augmentation (``resolve`` first). The first problem is a one-line ConfigError
    (exit 2) before any work."""
    from codecbench.device import usable_device

    usable_device(args.device)
    augment_config(args)  # raises ConfigError for a codec share without copies
    problem = next((p for rule in RULES if (p := rule(args))), None)
    if problem:
        raise ConfigError(problem)


def model_config(args: argparse.Namespace):
    """The ``ModelConfig`` the model options describe (defaults where an option is not given)."""
    from codecbench.inhouse.config import ModelConfig

    cfg = ModelConfig(kind=args.kind)
    for name in MODEL_INTS + MODEL_FLOATS:
        value = getattr(args, name.replace("-", "_"), None)
        if value is not None:
            setattr(cfg, name.replace("-", "_"), value)
    if args.fsq_levels:
        cfg.fsq_levels = tuple(int(v) for v in args.fsq_levels)
    cfg.__post_init__()
    return cfg
