"""TRAINING.md for a checkpoint folder: data, steps, time and losses, from config.json and log.jsonl;
its evaluation section (standings with their evidence, codecbench.claims); and whether evaluation
clips were drawn from the training corpus."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np


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


def training_overlap(items: list[tuple[str, np.ndarray, int]], manifests: list[str],
                     root: str | Path = ".") -> dict:
    """Whether evaluation clips are drawn from a training corpus: each clip's samples are compared
    (length, then SHA-1 of the float32 samples) with every utterance of each training manifest *in full*
    (its slice removed). Returns {"corpus": the first corpus with a match (its folder name) or "",
    "matched": clips found in it, "in_training": those inside the manifest's slice, i.e. trained on}.
    Identical samples only: a re-encoded or resampled copy is not recognised (the bench's
    ``--drawn-from`` states it instead). Relative manifest paths are tried as given, then under ``root``."""
    from codecbench import audio
    from codecbench.inhouse.data import parse_manifest_arg, read_manifest

    def key(wave: np.ndarray) -> tuple[int, str]:
        return len(wave), hashlib.sha1(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).hexdigest()

    wanted = {key(w) for _, w, _ in items}
    lengths = {n for n, _ in wanted}
    for arg in manifests:
        path, sl = parse_manifest_arg(str(arg))
        if not path.is_file() and not path.is_absolute():
            path = Path(root) / path
        try:
            everything = read_manifest(str(path))
        except (OSError, ValueError):
            continue
        used = {i.path for i in everything[sl]}
        matched = in_training = 0
        for item in everything:
            try:
                sr, seconds = audio.info(item.path)
                if int(round(sr * seconds)) not in lengths:
                    continue
                wave, _ = audio.load(item.path)
            except (audio.AudioError, RuntimeError, OSError):
                continue
            if key(wave) in wanted:
                matched += 1
                in_training += item.path in used
        if matched:
            return {"corpus": path.parent.name, "matched": matched, "in_training": in_training}
    return {"corpus": "", "matched": 0, "in_training": 0}


def evaluation_section(meta: dict, report: str = "") -> str:
    """The card's "## Evaluation": each standing with its evidence (codecbench.claims), the command,
    and the bench's report."""
    from codecbench.claims import standings_text

    ev = meta.get("evaluation") if isinstance(meta.get("evaluation"), dict) else {}
    lines = ["## Evaluation", ""]
    lines += [f"- {t}" for t in standings_text(ev)] or ["- not evaluated (run bench/inhouse_vs_opus.py)"]
    if ev.get("command"):
        lines += ["", f"`{ev['command']}`"]
    if report:
        lines += ["", "```", report.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"
