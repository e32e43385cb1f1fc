"""Trainer for the in-house codecs (``codecbench train``).

Losses: waveform L1 + multi-resolution STFT + multi-resolution log-mel, plus the bottleneck's own
(RVQ commitment, VAE KL); optional adversarial training (multi-period + multi-scale STFT
discriminators, hinge loss, feature matching) with ``--adversarial``.

The output folder holds the shippable checkpoint (``model.safetensors`` + ``config.json``), the
trainer state for ``--resume`` (``trainer_state.safetensors`` + ``trainer_state.json``: model,
discriminators, optimizers, step, RNG) and ``log.jsonl`` (one line of losses per logged step).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from codecbench.device import DEVICE_PATTERN
from codecbench.errors import ConfigError
from codecbench.inhouse.config import CheckpointMismatch
from codecbench.schema import Number, Numbers, Text, Whole

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
LOG_FILE = "log.jsonl"


# -- optimizer state <-> flat tensors + JSON (no pickle) --------------------------------------------
def flatten_optimizer(opt, prefix: str) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if hasattr(v, "shape"):
                tensors[f"{prefix}.{idx}.{k}"] = v
            else:
                scalars[f"{idx}.{k}"] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer(opt, prefix: str, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, t in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[key] = t
    for name, v in meta.get("scalars", {}).items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = v
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})


# -- the trainer ------------------------------------------------------------------------------------
MODEL_INTS = ("n-fft", "stft-hop", "frame-hop", "dim", "mlp-ratio", "encoder-blocks", "decoder-blocks", "kernel-size",
              "latent-dim", "n-quantizers", "codebook-size", "fsq-codebooks", "phase-iters")
MODEL_FLOATS = ("quantizer-dropout", "dead-code-threshold", "ema-decay")


def init_from(model, folder: str) -> list[str]:
    """Copy every tensor of checkpoint ``folder`` whose name and shape match; returns the names left fresh
    (e.g. the bottleneck projections when an FSQ or VAE model starts from an RVQ one)."""
    from codecbench.inhouse import checkpoint as ckpt

    state = Path(folder) / STATE_TENSORS  # float32 trainer state when there is one, else the shipped weights
    if state.is_file():
        src = {k[6:]: v for k, v in ckpt.load_tensors(state).items() if k.startswith("model.")}
    else:
        src = ckpt.load_tensors(Path(folder) / ckpt.MODEL_FILE)
    own = model.state_dict()
    fresh = [k for k, v in own.items() if k not in src or tuple(src[k].shape) != tuple(v.shape)]
    model.load_state_dict({k: src[k].to(v.dtype) if k not in fresh else v for k, v in own.items()})
    return fresh

def _model_config(args):
    from codecbench.inhouse.config import ModelConfig

    cfg = ModelConfig(kind=args.kind)
    for name in MODEL_INTS + MODEL_FLOATS:
        value = getattr(args, name.replace("-", "_"), None)
        if value is not None:
            setattr(cfg, name.replace("-", "_"), value)
    if args.fsq_levels:
        cfg.fsq_levels = tuple(args.fsq_levels)
    cfg.__post_init__()
    return cfg


def train(args: argparse.Namespace) -> Path:
    import numpy as np
    import torch

    from codecbench.inhouse import checkpoint as ckpt
    from codecbench.inhouse.card import training_card
    from codecbench.inhouse.data import CropDataset
    from codecbench.inhouse.losses import ReconstructionLoss
    from codecbench.inhouse.model import InhouseModel

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state_json = out / STATE_JSON

    resume = args.resume and state_json.is_file()
    if args.resume and not resume:
        print(f"--resume: no trainer state in {out}; starting from scratch", file=sys.stderr)
    if resume:
        cfg, _ = ckpt.read_config(out)
        if cfg.kind != args.kind:
            raise CheckpointMismatch(f"--resume: {out} holds a {cfg.kind!r} model, not {args.kind!r}")
        meta = json.loads(state_json.read_text())
    else:
        cfg, meta = _model_config(args), {}

    manifests = list(args.manifest)
    if args.espeak:
        from codecbench.inhouse.espeak import synthesize

        manifests.append(str(synthesize(Path(args.espeak_dir or out / "espeak"), args.espeak.split(","))))
    data = CropDataset(manifests, cfg.sample_rate)
    print(f"data: {json.dumps(data.summary(), ensure_ascii=False)}", flush=True)

    torch.manual_seed(args.seed)
    model = InhouseModel(cfg)
    if args.init_from and not resume:
        fresh = init_from(model, args.init_from)
        print(f"initialised from {args.init_from}; fresh: {', '.join(fresh) or 'none'}", flush=True)
    model = model.to(device)
    amp = bool(args.amp) and device.startswith("cuda")
    loss_fn = ReconstructionLoss(cfg.sample_rate).to(device)
    betas = tuple(args.betas)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=betas, weight_decay=0.0)
    disc = disc_opt = None
    if args.adversarial:
        from codecbench.inhouse.discriminators import Discriminators

        disc = Discriminators().to(device)
        disc_opt = torch.optim.AdamW(disc.parameters(), lr=args.lr, betas=betas)
    rng = np.random.default_rng(args.seed)
    step, elapsed = 0, 0.0
    if resume:
        tensors = ckpt.load_tensors(out / STATE_TENSORS)
        ckpt.load_state_strict(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(out))
        unflatten_optimizer(opt, "opt", tensors, meta["opt"])
        if disc is not None:
            if "disc_opt" not in meta:
                raise CheckpointMismatch(f"{out}: trainer state has no discriminators; resume without --adversarial")
            ckpt.load_state_strict(disc, {k[5:]: v for k, v in tensors.items() if k.startswith("disc.")}, str(out))
            unflatten_optimizer(disc_opt, "dopt", tensors, meta["disc_opt"])
        torch.set_rng_state(tensors["rng.torch"])
        rng.bit_generator.state = meta["numpy_rng"]
        step, elapsed = int(meta["step"]), float(meta["elapsed_seconds"])
        print(f"resumed from {out} at step {step}", flush=True)

    segment = int(round(args.segment_seconds * cfg.sample_rate))
    segment -= segment % cfg.hop_length
    weights = {"wave_l1": args.w_wave, "stft": args.w_stft, "mel": args.w_mel, "commit": args.w_commit,
               "kl": args.w_kl, "adv": args.w_adv, "fm": args.w_fm}
    log_path = out / LOG_FILE
    recent: list[dict[str, float]] = []
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else math.inf

    def save() -> None:
        avg = {k: round(float(np.mean([r[k] for r in recent if k in r])), 5) for k in (recent[-1] if recent else {})}
        training = {"steps": step, "wall_seconds": round(elapsed, 1), "device": device,
                    "threads": torch.get_num_threads(), "batch_size": args.batch_size,
                    "segment_seconds": segment / cfg.sample_rate, "lr": args.lr, "loss_weights": weights,
                    "adversarial": bool(args.adversarial), "init_from": args.init_from, "amp": amp, "data": {"manifests": manifests, **data.summary()},
                    "recent_losses": avg}
        ckpt.save_checkpoint(model, out, training)
        (out / "TRAINING.md").write_text(training_card(out))
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        opt_t, opt_meta = flatten_optimizer(opt, "opt")
        tensors.update(opt_t)
        state = {"step": step, "elapsed_seconds": elapsed, "opt": opt_meta,
                 "numpy_rng": rng.bit_generator.state, "args": {k: v for k, v in vars(args).items() if k != "func"}}
        if disc is not None:
            tensors.update({f"disc.{k}": v for k, v in disc.state_dict().items()})
            d_t, d_meta = flatten_optimizer(disc_opt, "dopt")
            tensors.update(d_t)
            state["disc_opt"] = d_meta
        tensors["rng.torch"] = torch.get_rng_state()
        ckpt.save_tensors(out / STATE_TENSORS, tensors)
        ckpt.write_json(state_json, state)

    model.train()
    while step < args.steps and time.monotonic() < deadline:
        t0 = time.perf_counter()
        lr = args.lr * min(1.0, (step + 1) / max(1, args.warmup)) * args.lr_decay ** step
        for g in opt.param_groups:
            g["lr"] = lr
        x = torch.from_numpy(data.batch(args.batch_size, segment, rng)).to(device)[:, None]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            y, bo = model(x)
        losses = {**loss_fn(y.float(), x), **bo.losses}
        use_adv = disc is not None and step >= args.adv_start
        if use_adv:
            from codecbench.inhouse.discriminators import discriminator_loss, generator_losses

            d_loss = discriminator_loss(disc(x), disc(y.detach()))
            disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            disc_opt.step()
            losses["adv"], losses["fm"] = generator_losses(disc(x), disc(y))
        total = sum(weights[k] * v for k, v in losses.items())
        opt.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        dt = time.perf_counter() - t0
        elapsed += dt
        row = {k: float(v.detach()) for k, v in losses.items()}
        row.update(total=float(total.detach()), grad_norm=float(grad_norm), **bo.stats)
        if use_adv:
            row["disc"] = float(d_loss.detach())
        recent = (recent + [row])[-50:]
        if step % args.log_every == 0 or step == 1:
            line = {"step": step, "lr": round(lr, 7), "sec_per_step": round(dt, 3), "elapsed": round(elapsed, 1),
                    **{k: round(v, 5) for k, v in row.items()}}
            print(json.dumps(line), flush=True)
            with log_path.open("a") as f:
                f.write(json.dumps(line) + "\n")
        if step % args.save_every == 0:
            save()
    save()
    print(f"saved {out} at step {step} ({elapsed / 60:.1f} min)", flush=True)
    return out


# -- options: each value checked where it is parsed (codecbench.schema kinds as argparse types), the
# rules between options and what must exist here in ``check_args``, before anything is loaded or written.
# A new option plugs in the same way: ``type=Whole(1)``, ``Number(0, 1)``, ``Choice(...)``; a rule: a
# function of the parsed args returning a problem (or None) in ``RULES``.
WEIGHT = Number(0)  # a loss weight


def model_kind(name: str):
    """The option type of a model field: the checkpoint guard's type and bounds (``guard.BOUNDS``), so the
    command line accepts exactly the architectures a checkpoint may declare."""
    from codecbench.inhouse.guard import BOUNDS

    typ, lo, hi, *most = BOUNDS[name.replace("-", "_")]
    if typ is list:
        return Numbers(Whole(lo, hi), most=most[0])
    return Whole(lo, hi) if typ is int else Number(lo, hi)


def _manifests(args: argparse.Namespace) -> str | None:
    from codecbench.inhouse.data import parse_manifest_arg

    missing = [str(path) for path in (parse_manifest_arg(m)[0] for m in args.manifest) if not path.is_file()]
    return f"--manifest: not found: {', '.join(missing)}" if missing else None


def _model(args: argparse.Namespace) -> str | None:
    """The model the options describe (when not resuming): its derived sizes (guard.check_model_dict)."""
    from dataclasses import asdict

    from codecbench.inhouse.guard import check_model_dict

    if not args.resume:
        cfg = _model_config(args)
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


RULES = (_manifests, _model, _init_from)


def check_args(args: argparse.Namespace) -> None:
    """Everything the options ask for that the parser cannot see: the device, the files, the model's
    derived sizes. The first problem is a one-line ConfigError (exit 2) before any work."""
    from codecbench.device import usable_device

    usable_device(args.device)
    problem = next((p for rule in RULES if (p := rule(args))), None)
    if problem:
        raise ConfigError(problem)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=["rvq", "fsq", "vae"], default="rvq")
    p.add_argument("--manifest", nargs="+", required=True,
                   help="JSONL manifest(s), paths relative to each; 'm.jsonl[16:-20]' picks utterances by position")
    p.add_argument("--espeak", default=None, help="also synthesize espeak-ng speech in these languages (e.g. en,ta)")
    p.add_argument("--espeak-dir", default=None, help="where to write it (default: OUT/espeak)")
    p.add_argument("--out", required=True, help="output folder: checkpoint, trainer state, log.jsonl")
    p.add_argument("--resume", action="store_true", help="continue from the trainer state in --out")
    p.add_argument("--steps", type=Whole(1), default=100000)
    p.add_argument("--max-minutes", type=Number(0, above=True), default=None,
                   help="stop (and save) after this much wall time")
    p.add_argument("--batch-size", type=Whole(1), default=16)
    p.add_argument("--segment-seconds", type=Number(0, above=True), default=0.64)
    p.add_argument("--lr", type=Number(0, above=True), default=1e-3)
    p.add_argument("--betas", type=Numbers(Number(0, 1, below=True), 2), default=[0.8, 0.99], help="Adam betas")
    p.add_argument("--lr-decay", type=Number(0, 1, above=True), default=0.99995, help="per-step exponential decay")
    p.add_argument("--warmup", type=Whole(0), default=100, help="steps of linear learning-rate warm-up (0: none)")
    p.add_argument("--grad-clip", type=Number(0, above=True), default=10.0)
    p.add_argument("--device", type=Text("auto, cpu, cuda or cuda:N", DEVICE_PATTERN), default="auto",
                   help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=Whole(1), default=None, help="torch CPU threads")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA (ignored on CPU)")
    p.add_argument("--init-from", default=None,
                   help="start from a checkpoint folder's tensors where names and shapes match (e.g. FSQ from RVQ)")
    p.add_argument("--seed", type=Whole(0), default=0)
    p.add_argument("--log-every", type=Whole(1), default=10)
    p.add_argument("--save-every", type=Whole(1), default=200)
    g = p.add_argument_group("model (ignored with --resume: the checkpoint's config wins)")
    for name in MODEL_INTS + MODEL_FLOATS:  # types and ranges: the checkpoint guard's bounds
        g.add_argument(f"--{name}", type=model_kind(name), default=None)
    g.add_argument("--fsq-levels", type=model_kind("fsq-levels"), default=None, help="comma-separated, e.g. 8,5,5,5")
    w = p.add_argument_group("loss weights")
    w.add_argument("--w-wave", type=WEIGHT, default=0.0, help="waveform L1 (0: the phase is generated)")
    w.add_argument("--w-stft", type=WEIGHT, default=1.0)
    w.add_argument("--w-mel", type=WEIGHT, default=5.0)
    w.add_argument("--w-commit", type=WEIGHT, default=0.25)
    w.add_argument("--w-kl", type=WEIGHT, default=1e-3)
    w.add_argument("--w-adv", type=WEIGHT, default=1.0)
    w.add_argument("--w-fm", type=WEIGHT, default=2.0)
    p.add_argument("--adversarial", action="store_true", help="add multi-period + multi-scale STFT discriminators")
    p.add_argument("--adv-start", type=Whole(0), default=0, help="first step with adversarial losses")


def cmd_train(args: argparse.Namespace) -> int:
    check_args(args)
    train(args)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train an in-house codec (RVQ, FSQ or VAE) on manifests")
    add_arguments(p)
    p.set_defaults(func=cmd_train)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m codecbench.inhouse.train")
    add_arguments(p)
    return cmd_train(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
