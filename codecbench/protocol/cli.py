"""``codecbench protocol list | validate NAME | table RUN_DIR [--protocol NAME] [--markdown]``, and what
``codecbench run --protocol`` does after the run (``finish_run``)."""

from __future__ import annotations

import sys
from pathlib import Path

from codecbench.errors import CodecbenchError
from codecbench.protocol import spec

STORED = "protocol.yaml"  # the protocol a run folder was made under (copied there by run --protocol)


def finish_run(run_dir: str | Path, protocol_file: Path, quiet: bool = False) -> str:
    """Store the protocol in the run folder, write protocol.md and return the text table."""
    from codecbench.protocol.table import compare, render_markdown, render_text
    from codecbench.store import atomic_write_text

    run_dir = Path(run_dir)
    atomic_write_text(run_dir / STORED, protocol_file.read_text(encoding="utf-8"))
    cmp = compare(run_dir, spec.load(str(run_dir / STORED)))
    atomic_write_text(run_dir / "protocol.md", render_markdown(cmp))
    return render_text(cmp)


def cmd_list(args) -> int:
    roots = [Path.cwd() / d for d in spec.PROTOCOL_DIRS] + [Path(__file__).resolve().parents[2] / d
                                                             for d in spec.PROTOCOL_DIRS]
    seen = set()
    for root in roots:
        for f in sorted(root.glob("*.yaml")) if root.is_dir() else []:
            if f.stem in seen:
                continue
            seen.add(f.stem)
            p = spec.load(str(f))
            print(f"{p.name:<24} {p.title}  ({f})")
    return 0


def cmd_validate(args) -> int:
    """Exit 1 when a protocol is invalid (each named on stderr); a name that is no protocol file is a usage
    mistake (exit 2)."""
    for name in args.names:
        spec.find(name)
    failed = 0
    for name in args.names:
        try:
            p = spec.load(name)
            notes = spec.validate(p)
        except CodecbenchError as exc:
            failed += 1
            print(f"{name}: invalid: {exc}", file=sys.stderr)
            continue
        print(f"{p.name}: valid ({len(p.rows)} rows, {len(p.columns)} columns, {len(p.metrics)} metrics)")
        for n in notes:
            print(f"  note: {n}")
    return 1 if failed else 0


def cmd_table(args) -> int:
    from codecbench.protocol.table import compare, render_markdown, render_text

    run_dir = Path(args.run_dir)
    if not (run_dir / "summary.csv").is_file():
        raise CodecbenchError(f"{run_dir} is not a finished run folder (no summary.csv)")
    source = args.protocol or (str(run_dir / STORED) if (run_dir / STORED).is_file() else None)
    if source is None:
        raise CodecbenchError(f"{run_dir} was not run under a protocol: name one with --protocol")
    cmp = compare(run_dir, spec.load(source))
    print(render_markdown(cmp) if args.markdown else render_text(cmp), end="")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("protocol", help="paper protocols: list, validate, compare a run with published values")
    sub = p.add_subparsers(dest="protocol_command", metavar="SUBCOMMAND", required=True)
    sub.add_parser("list", help="protocols in configs/protocols").set_defaults(func=cmd_list)
    v = sub.add_parser("validate", help="check protocols offline (names, options, published values)")
    v.add_argument("names", nargs="+", help="protocol names or files")
    v.set_defaults(func=cmd_validate)
    t = sub.add_parser("table", help="ours vs published for a finished run folder")
    t.add_argument("run_dir")
    t.add_argument("--protocol", default=None, help="protocol name or file (default: the one stored in the run)")
    t.add_argument("--markdown", action="store_true")
    t.set_defaults(func=cmd_table)
