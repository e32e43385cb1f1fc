"""The command line: thin wrappers over the library.

``run``, ``score`` and ``codecs`` live here. Other commands live beside the code they drive: each
module in ``COMMAND_MODULES`` has ``register(subparsers)``, adding its subcommand(s) with
``set_defaults(func=...)``; a func returns the exit status. Only the invoked command's module is
imported (all of them for ``--help`` or an unknown command): start-up is part of every command's time.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading

from codecbench import has_module
from codecbench.errors import CodecbenchError

BUILTIN_COMMANDS = ("run", "score", "codecs")
COMMAND_MODULES = {  # command -> the module whose register() adds it
    "models": "codecbench.models",
    "train": "codecbench.inhouse.train",
    "report": "codecbench.report.leaderboard",
    "compare": "codecbench.report.compare_cli",
    "mushra": "codecbench.report.mushra",
    "mushra-analyze": "codecbench.report.mushra",
    "merge": "codecbench.pipeline.merge",
    "protocol": "codecbench.protocol.cli",
}


def run_config(args: argparse.Namespace):
    """The run's BenchConfig: the --config file (if any), then the options given on the command line."""
    from codecbench.config import BenchConfig

    if getattr(args, "protocol", None):
        if args.config or args.metrics or args.metric_opt:
            raise CodecbenchError("--protocol fixes the dataset, metrics and their options: leave out --config, "
                                  "--metrics and --metric-opt")
        from codecbench.protocol import spec

        protocol = spec.load(args.protocol)
        spec.validate(protocol)
        cfg = protocol.to_config(args.dataset)
    else:
        cfg = BenchConfig.load(args.config) if args.config else BenchConfig()
    cfg = cfg.override(**{k: getattr(args, k) for k in args.config_fields})
    if args.metric_opt:
        cfg = cfg.with_metric_options(args.metric_opt)
    return cfg


def cmd_run(args: argparse.Namespace) -> int:
    from codecbench.pipeline import run
    from codecbench.summary import results_table

    cfg = run_config(args)
    run_dir = run(cfg, out=args.out, progress=not args.quiet)
    if cfg.log_to:  # the run is complete: a tracker that fails is a warning, never a lost run
        from codecbench.report.trackers import log_run

        log_run(run_dir, cfg.log_to, cfg.log_project)
    print(results_table(run_dir), file=sys.stderr)  # ends with the data checks' warnings
    if args.protocol:
        from codecbench.protocol.cli import finish_run
        from codecbench.protocol.spec import find

        print(finish_run(run_dir, find(args.protocol)), file=sys.stderr)
    print(run_dir)  # the last line: the run folder, for scripts
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from codecbench.errors import CodecbenchError
    from codecbench.scoring import is_audio_file, pairs_config, score_files

    if args.deg is not None and is_audio_file(args.ref) and is_audio_file(args.deg):
        if args.out or args.label:
            raise CodecbenchError("--out and --label are for pair lists (wav.scp, folders, JSONL); two audio files "
                                  "are scored to JSON on stdout")
        result = score_files(args.ref, args.deg, args.metrics, args.metric_opt or [], text=args.text, lang=args.lang,
                             max_duration=args.max_duration)
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return 0
    from codecbench.pipeline import run

    if args.text or args.lang:
        raise CodecbenchError("--text and --lang are for two audio files; pair lists carry text and lang per "
                              "utterance (a JSONL of id, ref, deg, lang, text, or Kaldi text/utt2lang files)")
    cfg = pairs_config(args.ref, args.deg, args.label, args.metrics, args.metric_opt,
                       **{k: getattr(args, k) for k in args.config_fields if k != "metrics"})
    run_dir = run(cfg, out=args.out, progress=not args.quiet)
    from codecbench.summary import results_table

    print(results_table(run_dir), file=sys.stderr)  # ends with the data checks' warnings
    print(run_dir)
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
    refs: dict[str, list[str]] = {}
    for s in specs.values():
        if s.info.reference:
            refs.setdefault(s.info.reference, []).append(s.name)
    if refs:
        print("\nWhat each reproduces (parity-tested against the reference code on random weights; docs/codecs.md):")
        for ref, names in refs.items():
            print(f"  {', '.join(names)}:\n    {ref}")
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


def _metric_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric-opt", action="append", default=None, metavar="NAME.OPTION=VALUE",
                   help="a metric option, e.g. wer.model=large-v3 (repeatable)")


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display or its log lines (the results table is still printed)")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line (exit 2), pointing at --help, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word not starting with '-'), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only what that command needs is imported."""
    from codecbench import __version__

    p = _Parser(prog="codecbench", description="Benchmark neural audio codecs per language.")
    p.add_argument("--version", action="version", version=f"codecbench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    from codecbench.config import BenchConfig
    from codecbench.schema import add_options

    r = sub.add_parser("run", help="reconstruct a dataset with codecs and score it (default: embedded demo set)",
                       description="Options given here override the --config file's.")
    r.add_argument("--config", default=None, help="benchmark config (YAML); e.g. configs/indic.yaml or RUN/config.yaml")
    r.add_argument("--protocol", default=None, metavar="NAME|FILE",
                   help="a paper's protocol (configs/protocols; `codecbench protocol list`): its dataset, codecs, "
                        "metrics and options; the run ends with ours vs the published values (protocol.md)")
    r.add_argument("--out", default=None, help="run folder (default: results/<run-id>); an existing run folder is "
                   "resumed, or extended by more utterances, languages or codecs")
    r.set_defaults(func=cmd_run, config_fields=add_options(r, BenchConfig, "run"))
    _metric_opt(r)
    _quiet(r)

    s = sub.add_parser("score", help="score reference/degraded pairs without a codec: two audio files (JSON on "
                                     "stdout) or two pair lists (run folder)",
                       description="REF and DEG: two audio files (scores printed as JSON), or two Kaldi wav.scp "
                                   "files / folders matched by utterance id (a run folder like `run` writes; "
                                   "resumable). REF alone: a JSONL of id, ref, deg[, lang, text].")
    s.add_argument("ref")
    s.add_argument("deg", nargs="?", default=None)
    s.add_argument("--out", default=None, help="run folder for a pair list (default: results/<run-id>)")
    s.add_argument("--label", default=None, help="the pairs' name in the codec column (default: DEG's name)")
    s.add_argument("--text", default=None, help="two audio files: the reference transcript (for wer/cer)")
    s.add_argument("--lang", default=None, help="two audio files: the language (forced on the ASR; e.g. hi)")
    s.set_defaults(func=cmd_score, config_fields=add_options(s, BenchConfig, "score", helps={
        "metrics": "metric, column or family names (default: the signal metrics that need only the two files)"}))
    _metric_opt(s)
    _quiet(s)

    c = sub.add_parser("codecs", help="list every codec with its metadata and whether it can run here")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_codecs)

    if command in BUILTIN_COMMANDS:
        return p
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else COMMAND_MODULES.values()
    for mod_name in dict.fromkeys(modules):
        if has_module(mod_name):
            mod = importlib.import_module(mod_name)
            if hasattr(mod, "register"):
                mod.register(sub)
    return p


def entry() -> None:
    """The ``codecbench`` command: ``main`` and exit. Everything still loaded is frozen out of the
    garbage collector first, so exiting does not traverse every object pandas, pyarrow or torch made
    (~50 ms per command); atexit handlers and buffered files still close as usual."""
    import gc

    status = main()
    gc.freeze()
    raise SystemExit(status)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a scheduler's preemption, ``kill``): unwinds like Ctrl-C, so a run keeps
    its rows, shuts its worker pool down and releases its folder's lock."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(args.func(args) or 0)
    except Terminated:
        resumable = args.command in ("run", "score")
        print("codecbench: terminated (SIGTERM)" + ("; the rows written so far are kept: run the same command again "
                                                    "to resume" if resumable else ""), file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: end quietly, as a process killed by SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except CodecbenchError as exc:  # the user's to fix: one line; anything else keeps its traceback
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder, a file in the path: the user's to fix too
        from codecbench.safe_io import describe_os_error

        line = describe_os_error(exc)
        if line is None:
            raise
        print(f"codecbench: error: {line}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
