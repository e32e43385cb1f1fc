"""TRAINING.md for a checkpoint folder: data, steps, time and losses, from config.json and log.jsonl."""

from __future__ import annotations

import json
from pathlib import Path


def _loss_line(row: dict) -> str:
    keys = [k for k in ("total", "mel", "stft", "wave_l1", "commit", "kl", "adv", "fm") if k in row]
    return ", ".join(f"{k} {row[k]:.4f}" for k in keys)


def training_card(folder: str | Path, log: str | Path | None = None, notes: str = "") -> str:
    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text())
    model, tr = meta["model"], meta.get("training", {})
    log_path = Path(log) if log else folder / "log.jsonl"
    rows = [json.loads(x) for x in log_path.read_text().splitlines()] if log_path.is_file() else []
    data = tr.get("data", {})
    lines = [
        f"# {model['kind'].upper()} checkpoint: training record", "",
        f"- architecture: {architecture(model)}",
        f"- bottleneck: {bottleneck(model)}",
        f"- data: {data.get('utterances', '?')} utterances, {data.get('hours', '?')} h; seconds per language "
        f"{json.dumps(data.get('seconds_per_lang', {}))}",
        f"- manifests: {', '.join(str(m) for m in data.get('manifests', []))}",
        f"- steps: {tr.get('steps')}, batch {tr.get('batch_size')} x {tr.get('segment_seconds')} s crops, "
        f"lr {tr.get('lr')}, adversarial {tr.get('adversarial')}, initialised from {tr.get('init_from')}",
        f"- time: {tr.get('wall_seconds', 0) / 60:.1f} min of training wall time on {tr.get('device')} "
        f"({tr.get('threads')} thread(s))",
        f"- loss weights: {json.dumps(tr.get('loss_weights', {}))}",
        f"- losses, mean of the last 50 steps: {_loss_line(tr.get('recent_losses', {}))}",
    ]
    if rows:
        lines.append(f"- losses at step {rows[0]['step']}: {_loss_line(rows[0])}")
        lines.append(f"- losses at step {rows[-1]['step']} (last logged): {_loss_line(rows[-1])}")
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def architecture(model: dict) -> str:
    sr, hop = model["sample_rate"], model["frame_hop"]
    return (f"frame-rate codec at {sr / hop:g} Hz (hop {hop} at {sr} Hz): encoder over log-STFT frames "
            f"(n_fft {model['n_fft']}, hop {model['stft_hop']}), {model['encoder_blocks']} ConvNeXt blocks; decoder "
            f"{model['decoder_blocks']} ConvNeXt blocks predicting STFT magnitude + phase, iSTFT; width {model['dim']}, "
            f"MLP x{model['mlp_ratio']}; at inference {model.get('phase_iters', 0)} fast Griffin-Lim iterations "
            "from the predicted phase")


def bottleneck(model: dict) -> str:
    if model["kind"] == "rvq":
        return (f"RVQ, {model['n_quantizers']} EMA codebooks x {model['codebook_size']} entries, dim "
                f"{model['latent_dim']}, quantizer dropout {model['quantizer_dropout']}, dead-code threshold "
                f"{model['dead_code_threshold']}")
    if model["kind"] == "fsq":
        return f"FSQ, {model['fsq_codebooks']} codebooks, levels {model['fsq_levels']}"
    return f"VAE, Gaussian latent of {model['latent_dim']} dims"
