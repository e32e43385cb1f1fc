"""The command line: thin wrappers over the library.

``run``, ``score`` and ``codecs`` live here. Other commands live beside the code they drive: each
module in ``COMMAND_MODULES`` has ``register(subparsers)``, adding its subcommand(s) with
``set_defaults(func=...)``; a func returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys

from codecbench import has_module
from codecbench.errors import CodecbenchError

COMMAND_MODULES = (
    "codecbench.models",
    "codecbench.inhouse.train",
    "codecbench.report.leaderboard",
    "codecbench.report.compare",
    "codecbench.report.mushra",
)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def cmd_run(args: argparse.Namespace) -> int:
    from codecbench.runner import RunConfig, run

    if args.offline:
        from codecbench.models import set_offline

        set_offline()
    cfg = RunConfig(
        codecs=args.codecs,
        dataset=args.dataset,
        dataset_format=args.dataset_format,
        langs=args.langs,
        metrics=args.metrics,
        limit=args.limit,
        batch_size=args.batch_size,
        max_batch_seconds=args.max_batch_seconds,
        workers=args.workers,
        device=args.device,
        save_audio=args.save_audio,
        run_id=args.run_id,
    )
    run_dir = run(cfg, out=args.out, progress=not args.quiet)
    print(run_dir)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from codecbench.scoring import score_files

    result = score_files(args.ref, args.deg, args.metrics)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


def cmd_codecs(args: argparse.Namespace) -> int:
    from codecbench.codecs.registry import all_specs, plugin_errors

    specs = all_specs()
    if args.json:
        print(json.dumps([{**s.info.to_dict(), "available": s.unavailable_reason() is None,
                           "unavailable_reason": s.unavailable_reason()} for s in specs.values()], indent=1))
        return 0
    header = f"{'name':<24} {'family':<8} {'sr':>6} {'frame Hz':>9} {'codebooks':<18} {'kbps':>7} {'causal':<6}  available"
    print(header)
    print("-" * len(header))
    for s in specs.values():
        i = s.info
        books = _describe_books(i)
        kbps = f"{i.nominal_bitrate / 1000:.2f}" if i.nominal_bitrate else "-"
        fr = f"{i.frame_rate:.2f}" if i.frame_rate else "-"
        reason = s.unavailable_reason()
        print(f"{i.name:<24} {i.family:<8} {i.sample_rate:>6} {fr:>9} {books:<18} {kbps:>7} {str(i.causal).lower():<6}  "
              + ("yes" if reason is None else f"no: {reason}"))
    from codecbench.codecs.inhouse import standing_notes

    print("\n" + "\n".join(standing_notes()))
    for err in plugin_errors():
        print(f"warning: {err}", file=sys.stderr)
    return 0


def _describe_books(info) -> str:
    if info.latent_dim:
        return f"continuous {info.latent_dim}-d"
    if not info.codebooks:
        return "-"
    sizes = {c.size for c in info.codebooks}
    if len(sizes) == 1:
        return f"{len(info.codebooks)} x {sizes.pop()}"
    return "+".join(str(c.size) for c in info.codebooks)


def build_parser() -> argparse.ArgumentParser:
    from codecbench import __version__

    p = argparse.ArgumentParser(prog="codecbench", description="Benchmark neural audio codecs per language.")
    p.add_argument("--version", action="version", version=f"codecbench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="reconstruct a dataset with codecs and score it (default: embedded demo set)")
    r.add_argument("--codecs", type=_csv, default=None, help="comma-separated codec names (default: the default set)")
    r.add_argument("--dataset", default=None, help="manifest (.jsonl/.csv/.json) or dataset folder (default: embedded espeak-ng set)")
    r.add_argument("--dataset-format", default="auto",
                   choices=["auto", "manifest", "folder", "commonvoice", "fleurs", "librispeech"])
    r.add_argument("--langs", type=_csv, default=None, help="comma-separated language codes to keep")
    r.add_argument("--metrics", type=_csv, default=None, help="metric or column names (default: the default set)")
    r.add_argument("--limit", type=int, default=None, help="at most N utterances per language")
    r.add_argument("--out", default=None, help="run folder (default: results/<run-id>)")
    r.add_argument("--run-id", default=None, help="name of the run (default: derived from the configuration)")
    r.add_argument("--batch-size", type=int, default=8)
    r.add_argument("--max-batch-seconds", type=float, default=160.0, help="cap on audio seconds per codec batch")
    r.add_argument("--workers", type=int, default=None, help="CPU metric worker processes (default: cores - 1, >= 1)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    r.add_argument("--save-audio", default="4", help="reconstructions to keep per (codec, language): N, 'all' or 'none'")
    r.add_argument("--offline", action="store_true", help="never contact a model hub (HF_HUB_OFFLINE=1)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("score", help="score one reference/degraded pair of files and print JSON")
    s.add_argument("ref")
    s.add_argument("deg")
    s.add_argument("--metrics", type=_csv, default=None, help="metric or column names (default: signal metrics)")
    s.set_defaults(func=cmd_score)

    c = sub.add_parser("codecs", help="list every codec with its metadata and whether it can run here")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_codecs)

    for mod_name in COMMAND_MODULES:
        if has_module(mod_name):
            mod = importlib.import_module(mod_name)
            if hasattr(mod, "register"):
                mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CodecbenchError as exc:  # the user's to fix: one line; anything else keeps its traceback
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return 2
