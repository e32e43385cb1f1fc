"""Trainer for the in-house codecs (``codecbench train``; options in ``train_args``).

Losses: waveform L1 + multi-resolution STFT + multi-resolution log-mel, plus the bottleneck's own
(RVQ commitment, VAE KL); optional adversarial training (multi-period + multi-scale STFT
discriminators, hinge loss, feature matching) with ``--adversarial``. Optional channel and level
augmentation (``augment``), periodic validation on held-out utterances (``validate``) and a live
progress line (``progress``).

The output folder holds the shippable checkpoint (``model.safetensors`` + ``config.json``), the
trainer state for ``--resume`` (``trainer_state.safetensors`` + ``trainer_state.json``: model,
discriminators, optimizers, step, RNG), ``log.jsonl`` (one line of losses per logged step) and
``validation.jsonl`` (one line per validation).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from codecbench.inhouse.config import CheckpointMismatch

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
LOG_FILE = "log.jsonl"
VAL_FILE = "validation.jsonl"


# -- the trainer ------------------------------------------------------------------------------------

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


def _validation_set(args, data, sample_rate: int, note) -> list | None:
    """Held-out (id, wave) pairs: --val-manifest, else the last --val-count utterances of the data."""
    from codecbench.inhouse.data import CropDataset

    if args.val_every <= 0:
        return None
    if args.val_manifest:
        held = CropDataset(args.val_manifest, sample_rate)
        return list(zip([i.id for i in held.items], held.waves, strict=True))[: args.val_count]
    if len(data.items) < 4 * args.val_count:
        note(f"validation off: {len(data.items)} utterances are too few to hold {args.val_count} out "
             "(give --val-manifest)")
        return None
    held = data.hold_out(args.val_count)
    note(f"validation: the last {len(held)} utterances of the data ({held[0][0]} .. {held[-1][0]}), held out of training")
    return held


def train(args: argparse.Namespace) -> Path:
    import numpy as np
    import torch

    from codecbench.inhouse import checkpoint as ckpt
    from codecbench.inhouse.augment import Augmenter
    from codecbench.inhouse.card import training_card
    from codecbench.inhouse.data import CropDataset
    from codecbench.inhouse.losses import ReconstructionLoss
    from codecbench.inhouse.model import InhouseModel
    from codecbench.inhouse.progress import TrainProgress
    from codecbench.inhouse.train_args import augment_config, resolve
    from codecbench.inhouse.validate import Validator, format_result

    resolve(args)
    device = _set_up_torch(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    resume, cfg, meta = _start(args, out)
    aug_cfg = augment_config(args)

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    manifests = list(args.manifest)
    if args.espeak:
        from codecbench.inhouse.espeak import synthesize

        manifests.append(str(synthesize(Path(args.espeak_dir or out / "espeak"), args.espeak.split(","))))
    data = CropDataset(manifests, cfg.sample_rate, copies=args.aug_codec_manifest if aug_cfg.codec > 0 else None)
    held = _validation_set(args, data, cfg.sample_rate, note)
    note(f"data: {json.dumps(data.summary(), ensure_ascii=False)}")
    conditions = [c for c in args.val_conditions.split(",") if c]
    validator = Validator(held, cfg.sample_rate, conditions) if held else None

    torch.manual_seed(args.seed)
    model = InhouseModel(cfg)
    if args.init_from and not resume:
        fresh = init_from(model, args.init_from)
        note(f"initialised from {args.init_from}; fresh: {', '.join(fresh) or 'none'}")
    model = model.to(device)
    amp = bool(args.amp) and device.startswith("cuda")
    loss_fn = ReconstructionLoss(cfg.sample_rate).to(device)
    augmenter = Augmenter(aug_cfg, cfg.sample_rate)
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
        step, elapsed = _load_state(out, meta, model, opt, disc, disc_opt, rng)
        note(f"resumed from {out} at step {step}")

    segment = int(round(args.segment_seconds * cfg.sample_rate))
    segment -= segment % cfg.hop_length
    weights = {"wave_l1": args.w_wave, "stft": args.w_stft, "mel": args.w_mel, "commit": args.w_commit,
               "kl": args.w_kl, "adv": args.w_adv, "fm": args.w_fm}
    log_path, val_path = out / LOG_FILE, out / VAL_FILE
    recent: list[dict[str, float]] = []
    last_val: dict = {}
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else math.inf
    progress = TrainProgress(step, args.steps, deadline, args.log_every)

    def validate() -> None:
        nonlocal last_val
        res = validator(model, device)
        last_val = {"step": step, **res}
        with val_path.open("a") as f:
            f.write(json.dumps(last_val) + "\n")
        progress.validation(step, format_result(res), res["seconds"])
        for m, reason in res["failures"].items():
            progress.note(f"   {m}: failed for some utterances ({reason})")

    run_record = _run_record(args, device, segment / cfg.sample_rate, weights, amp, aug_cfg, manifests, data)

    def save() -> None:
        avg = {k: round(float(np.mean([r[k] for r in recent if k in r])), 5) for k in (recent[-1] if recent else {})}
        training = {"steps": step, "wall_seconds": round(elapsed, 1), **run_record, "recent_losses": avg}
        if validator is not None:
            training["validation"] = {"utterances": [uid for uid, _ in held], "manifests": args.val_manifest,
                                      "conditions": conditions, "last": last_val}
        ckpt.save_checkpoint(model, out, training)
        (out / "TRAINING.md").write_text(training_card(out))
        _save_state(out, args, step, elapsed, model, opt, disc, disc_opt, rng)

    if validator is not None and step == 0:
        validate()  # the starting point of the curve
    model.train()
    try:
        while step < args.steps and time.monotonic() < deadline:
            t0 = time.perf_counter()
            lr = args.lr * min(1.0, (step + 1) / max(1, args.warmup)) * args.lr_decay ** step
            for g in opt.param_groups:
                g["lr"] = lr
            x = torch.from_numpy(data.batch(args.batch_size, segment, rng, aug_cfg.codec)).to(device)
            x = augmenter(x, rng)[:, None]
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
            row = {k: float(v.detach()) for k, v in losses.items()}  # synchronises: dt is the step's real time
            row.update(total=float(total.detach()), grad_norm=float(grad_norm), **bo.stats)
            dt = time.perf_counter() - t0
            elapsed += dt
            if use_adv:
                row["disc"] = float(d_loss.detach())
            recent = (recent + [row])[-50:]
            progress.step(step, row, dt)
            if step % args.log_every == 0 or step == 1:
                line = {"step": step, "lr": round(lr, 7), "sec_per_step": round(dt, 3), "elapsed": round(elapsed, 1),
                        **{k: round(v, 5) for k, v in row.items()}}
                with log_path.open("a") as f:
                    f.write(json.dumps(line) + "\n")
            if validator is not None and step % args.val_every == 0:
                validate()
            if step % args.save_every == 0:
                save()
        if validator is not None and last_val.get("step") != step:
            validate()
        save()
    finally:
        progress.close()
    note(f"saved {out} at step {step} ({elapsed / 60:.1f} min)")
    return out


def _set_up_torch(args: argparse.Namespace) -> str:
    """Threads and TF32 for ``--threads``/``--device``; returns the device (``auto`` resolved)."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device


def _start(args: argparse.Namespace, out: Path) -> tuple[bool, Any, dict]:
    """(resuming, the model config, the trainer state's JSON): from ``out``'s trainer state with
    ``--resume`` when there is one, else from the options."""
    from codecbench.inhouse import checkpoint as ckpt
    from codecbench.inhouse.train_args import model_config

    resume = bool(args.resume) and (out / STATE_JSON).is_file()
    if args.resume and not resume:
        print(f"--resume: no trainer state in {out}; starting from scratch", file=sys.stderr)
    if not resume:
        return False, model_config(args), {}
    cfg, _ = ckpt.read_config(out)
    if cfg.kind != args.kind:
        raise CheckpointMismatch(f"--resume: {out} holds a {cfg.kind!r} model, not {args.kind!r}")
    return True, cfg, json.loads((out / STATE_JSON).read_text())


def _run_record(args: argparse.Namespace, device: str, segment_seconds: float, weights: dict, amp: bool, aug_cfg,
                manifests: list[str], data) -> dict:
    """What the checkpoint's training record says of the run's set-up (the same at every save)."""
    import torch

    return {"device": _device_name(device), "threads": torch.get_num_threads(), "batch_size": args.batch_size,
            "segment_seconds": segment_seconds, "lr": args.lr, "lr_decay": args.lr_decay,
            "warmup": args.warmup, "loss_weights": weights, "adversarial": bool(args.adversarial),
            "adv_start": args.adv_start if args.adversarial else None, "init_from": args.init_from, "amp": amp,
            "seed": args.seed, "preset": args.preset, "augment": aug_cfg.to_dict(),
            "data": {"manifests": manifests,
                     "codec_copy_manifests": args.aug_codec_manifest if aug_cfg.codec else None,
                     **data.summary()}}


def _load_state(out: Path, meta: dict, model, opt, disc, disc_opt, rng) -> tuple[int, float]:
    """Restore the trainer state of ``out`` (``--resume``) into the model, optimizers and RNGs; returns
    (step, elapsed seconds)."""
    import torch

    from codecbench.inhouse import checkpoint as ckpt
    from codecbench.inhouse.checkpoint import unflatten_optimizer

    tensors = ckpt.load_tensors(out / STATE_TENSORS)
    ckpt.load_state_strict(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(out))
    unflatten_optimizer(opt, "opt", tensors, meta["opt"])
    if disc is not None:
        if "disc_opt" not in meta:
            raise ValueError(f"{out}: trainer state has no discriminators; resume without --adversarial")
        ckpt.load_state_strict(disc, {k[5:]: v for k, v in tensors.items() if k.startswith("disc.")}, str(out))
        unflatten_optimizer(disc_opt, "dopt", tensors, meta["disc_opt"])
    torch.set_rng_state(tensors["rng.torch"])
    rng.bit_generator.state = meta["numpy_rng"]
    return int(meta["step"]), float(meta["elapsed_seconds"])


def _save_state(out: Path, args: argparse.Namespace, step: int, elapsed: float, model, opt, disc, disc_opt,
                rng) -> None:
    """Write the trainer state (``STATE_TENSORS`` + ``STATE_JSON``) that ``_load_state`` restores."""
    import torch

    from codecbench.inhouse import checkpoint as ckpt
    from codecbench.inhouse.checkpoint import flatten_optimizer

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
    ckpt.write_json(out / STATE_JSON, state)


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return device


def cmd_train(args: argparse.Namespace) -> int:
    from codecbench.inhouse.train_args import check_args, resolve

    resolve(args)
    check_args(args)
    train(args)
    return 0


def register(subparsers) -> None:
    from codecbench.inhouse.train_args import add_arguments

    p = subparsers.add_parser("train", help="train an in-house codec (RVQ, FSQ or VAE) on manifests",
                              description="Train an in-house codec (docs/training.md). Progress on stderr: a live "
                                          "line on a terminal, plain lines otherwise.")
    add_arguments(p)
    p.set_defaults(func=cmd_train)


def main(argv: list[str] | None = None) -> int:
    from codecbench.inhouse.train_args import add_arguments

    p = argparse.ArgumentParser(prog="python -m codecbench.inhouse.train")
    add_arguments(p)
    return cmd_train(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
