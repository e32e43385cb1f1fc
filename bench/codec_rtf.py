"""Encode/decode real-time factors of the pretrained codec adapters at batch sizes 1, 8 and 32.

RTF = seconds of compute / seconds of audio processed (s/s, lower is faster: the unit of the rows,
summaries and reports).
Timed: ``encode_native`` and ``decode_native`` of the adapter at the codec's native rate (what the
runner calls). Each batch size is warmed up with one untimed call of that exact shape (allocator and
kernel choices depend on the shape), then timed ``--repeats`` (>= 3) times; the median is printed.
Two batch kinds per size: "equal" (every item ``--seconds`` long) and "mixed" (lengths spread over
0.5-1 x ``--seconds``, zero-padded to the longest as the runner pads them; RTF over the valid
audio seconds, so padding waste counts against the codec). Resampling is excluded.

Weights: the real ones where they are cached (``codecbench models download NAME``) or shipped
(``ours-*``, Opus); otherwise a random-weight model with the released architecture's shapes
(``codecbench.codecs._testing``, ``--size real``, the same compute; ``--size small`` for smoke
tests). The printout marks which one each row used.

    PYTHONPATH=. python bench/codec_rtf.py                      # default codec set, CPU/GPU auto
    PYTHONPATH=. python bench/codec_rtf.py --codecs dac-44k,mimi-8cb --seconds 2 --device cuda
    PYTHONPATH=. python bench/codec_rtf.py --codecs ours-fsq,dac-16k --batch-sizes 1,2 --seconds 0.3 --size small
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_CODECS = ("encodec-24k-6kbps", "encodec-48k-6kbps", "dac-16k", "dac-24k", "dac-44k", "mimi-8cb",
                  "snac-24k", "snac-32k", "snac-44k")
# weights folder name per variant prefix (for random checkpoints)
MODEL_OF = {"encodec-24k": "encodec-24k", "encodec-48k": "encodec-48k", "dac-16k": "dac-16k", "dac-24k": "dac-24k",
            "dac-44k": "dac-44k", "mimi": "mimi", "snac-24k": "snac-24k", "snac-32k": "snac-32k", "snac-44k": "snac-44k"}


def _model_for(variant: str) -> str:
    for prefix in sorted(MODEL_OF, key=len, reverse=True):
        if variant.startswith(prefix):
            return MODEL_OF[prefix]
    raise KeyError(variant)


def load(variant: str, device: str, force_random: bool, workdir: Path, size: str = "real"):
    from codecbench.codecs._testing import build_checkpoint
    from codecbench.codecs.registry import get_spec, load_codec

    spec = get_spec(variant)
    if spec.unavailable_reason() is None and (not force_random or spec.info.family in ("opus", "ours")):
        return load_codec(variant, device), "real"
    folder = workdir / _model_for(variant)
    if not folder.exists():
        build_checkpoint(_model_for(variant), folder, size=size)
    return load_codec(f"{variant}:{folder}", device), "RANDOM" if size == "real" else "SMALL"


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)"


def time_batch(codec, batch: np.ndarray, lengths: np.ndarray, repeats: int) -> tuple[float, float]:
    """Median encode and decode seconds of ``repeats`` timed calls after one untimed call of this shape."""
    enc_t, dec_t = [], []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        enc = codec.encode_native(batch, lengths)
        t1 = time.perf_counter()
        codec.decode_native(enc, lengths)
        t2 = time.perf_counter()
        enc_t.append(t1 - t0)
        dec_t.append(t2 - t1)
    return statistics.median(enc_t[1:]), statistics.median(dec_t[1:])


def main(argv=None) -> int:
    import torch

    from codecbench.codecs.base import resolve_device

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codecs", default=",".join(DEFAULT_CODECS))
    p.add_argument("--batch-sizes", default="1,8,32")
    p.add_argument("--seconds", type=float, default=1.0, help="audio seconds per item")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--random", action="store_true", help="random weights even where real ones are cached")
    p.add_argument("--size", choices=("real", "small"), default="real", help="random checkpoints' size")
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be >= 3 (the median of repeats is printed)")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    print(f"device: {device_name(device)}; torch {torch.__version__}; {args.seconds:g} s per item; "
          f"median of {args.repeats} runs after a warm-up at each batch shape")
    print("RTF = compute seconds / audio seconds (lower is faster). 'RANDOM' rows: random weights in the released "
          "architecture's shapes (no real weights cached here) - same compute, meaningless audio.")
    header = (f"{'codec':<20} {'weights':<7} {'state':>7} {'batch':<6} "
              + " ".join(f"{'enc B=' + str(b):>10} {'dec B=' + str(b):>10}" for b in sizes))
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for variant in [c.strip() for c in args.codecs.split(",") if c.strip()]:
            codec, source = load(variant, device, args.random, Path(tmp), args.size)
            sr = codec.info.sample_rate
            n = int(args.seconds * sr)
            # weights + buffers (codebooks are buffers in transformers' EnCodec/Mimi): comparable to published sizes
            model = getattr(codec, "model", None)
            params = sum(t.numel() for t in model.state_dict().values()) / 1e6 if model is not None else 0.0
            rows = []
            for kind in ("equal", "mixed"):
                row = f"{variant:<20} {source:<7} {params:>6.1f}M {kind:<6} "
                for b in sizes:
                    lengths = np.full(b, n) if kind == "equal" else np.linspace(n, n // 2, b).astype(int)  # longest = n
                    batch = (0.1 * rng.standard_normal((b, n))).astype(np.float32)
                    for i, k in enumerate(lengths):
                        batch[i, k:] = 0
                    enc_s, dec_s = time_batch(codec, batch, lengths, args.repeats)
                    audio_s = float(lengths.sum()) / sr
                    row += f"{enc_s / audio_s:>10.4f} {dec_s / audio_s:>10.4f} "
                rows.append(row)
            row = "\n".join(rows)
            print(row, flush=True)
            codec.close()
            del codec
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
