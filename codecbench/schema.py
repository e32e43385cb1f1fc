"""Declared values: each setting's type, default, help and validator written once.

A ``Kind`` is a value type with its validator: ``check(value)`` takes a value from YAML or Python and
returns it normalised (or raises ``Invalid`` with the reason), ``parse(text)`` reads it from the
command line. A kind is also an argparse ``type`` (``p.add_argument("--steps", type=Whole(1))``), so a
bad value is one line, exit status 2, before any work — every command's numeric and enumerated
options use them.

A ``Setting`` is one field of a config dataclass (``codecbench.config.BenchConfig``): its kind, help,
the commands whose options include it and whether it can change a value (part of the run's
identity). Declared with ``setting(...)`` as the dataclass field's default, it is the one place the
field is written: ``check_fields`` validates an instance, ``add_options`` generates a command's
options from it.

``Option`` is one option of a metric or codec (declared by the plugin, resolved once by
``codecbench.pipeline.resolve``).
"""

from __future__ import annotations

import argparse
import copy
import math
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from codecbench.errors import ConfigError


class Invalid(ValueError):
    """A value a kind refuses; the message is the reason ('must be ..., not ...')."""


# -- kinds ----------------------------------------------------------------------------------------
class Kind:
    """A value type and its validator. Subclasses set ``describe`` and implement ``check``."""

    describe = "a value"
    metavar: str | None = None

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        return self.check(text)

    def fail(self, value: Any) -> Invalid:
        return Invalid(f"must be {self.describe}, not {short(value)}")

    def __call__(self, text: str) -> Any:  # an argparse ``type``
        try:
            return self.parse(text)
        except Invalid as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None


def _range(lo: float | None, hi: float | None, open_lo: bool = False, open_hi: bool = False) -> str:
    if lo is not None and hi is not None and not (open_lo or open_hi):
        return f"from {lo:g} to {hi:g}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if open_lo else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if open_hi else '<='} {hi:g}")
    return " and ".join(parts)


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number in [lo, hi] (either bound may be open-ended)."""

    lo: int | None = None
    hi: int | None = None

    @property
    def describe(self) -> str:  # type: ignore[override]
        bounds = _range(self.lo, self.hi)
        return f"a whole number {bounds}".strip()

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise self.fail(value)
        return value

    def parse(self, text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise self.fail(text) from None
        return self.check(value)


@dataclass(frozen=True)
class Number(Kind):
    """A finite number in a range; ``above``/``below`` make a bound exclusive."""

    lo: float | None = None
    hi: float | None = None
    above: bool = False  # lo excluded
    below: bool = False  # hi excluded
    unit: str = ""

    @property
    def describe(self) -> str:  # type: ignore[override]
        bounds = _range(self.lo, self.hi, self.above, self.below)
        return f"a finite number{' of ' + self.unit if self.unit else ''} {bounds}".strip()

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(value)
        v = float(value)
        lo_bad = self.lo is not None and (v <= self.lo if self.above else v < self.lo)
        hi_bad = self.hi is not None and (v >= self.hi if self.below else v > self.hi)
        if lo_bad or hi_bad:
            raise self.fail(value)
        return v

    def parse(self, text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise self.fail(text) from None
        return self.check(value)


@dataclass(frozen=True)
class Choice(Kind):
    """One of a fixed set of words."""

    values: tuple[str, ...]

    @property
    def describe(self) -> str:  # type: ignore[override]
        return f"one of {', '.join(self.values)}"

    @property
    def metavar(self) -> str:  # type: ignore[override]
        return "{" + ",".join(self.values) + "}"

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Text(Kind):
    """A non-empty string, optionally matching ``pattern`` (a full match) described by ``what``."""

    what: str = "a non-empty string"
    pattern: str | None = None

    @property
    def describe(self) -> str:  # type: ignore[override]
        return self.what

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or (
                self.pattern is not None and not re.fullmatch(self.pattern, value)):
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Flag(Kind):
    """true or false (YAML booleans; on the command line a flag without a value)."""

    describe = "true or false"

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Names(Kind):
    """A non-empty list of names: a YAML list or a comma-separated string."""

    what: str = "names"
    item: Kind | None = None  # each name's kind (default: a non-empty string)

    @property
    def describe(self) -> str:  # type: ignore[override]
        return f"a list of {self.what}"

    def check(self, value: Any) -> list[Any]:
        items = split_csv(value) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.fail(value)
        if not items:
            raise Invalid("is empty (leave it out for the default)")
        return [self.entry(x) for x in items]

    def entry(self, x: Any) -> Any:
        if self.item is not None:
            return self.item.check(x)
        if isinstance(x, bool) or not isinstance(x, (str, int, float)) or not str(x).strip():
            raise Invalid(f"must be {self.describe}, not {x!r} in the list")
        return str(x).strip()

    def parse(self, text: str) -> list[Any]:
        items = split_csv(text)
        if not items:
            raise Invalid(f"needs at least one of the {self.what} (leave it out for the default)")
        return [self.entry(x) for x in items]


@dataclass(frozen=True)
class Numbers(Kind):
    """A comma-separated list of ``count`` (or 1 to ``most``) values of kind ``item`` (e.g. ``0.8,0.99``)."""

    item: Kind
    count: int | None = None
    most: int | None = None

    @property
    def describe(self) -> str:  # type: ignore[override]
        n = str(self.count) if self.count else f"1 to {self.most}" if self.most else "one or more"
        return f"{n} comma-separated values, each {self.item.describe}"

    def check(self, value: Any) -> list[Any]:
        items = split_csv(value) if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items or (self.count and len(items) != self.count) or (
                self.most and len(items) > self.most):
            raise self.fail(value)
        try:
            return [self.item.parse(x) if isinstance(x, str) else self.item.check(x) for x in items]
        except Invalid:
            raise self.fail(value) from None


@dataclass(frozen=True)
class Assignments(Kind):
    """``KEY=VALUE[,KEY=VALUE...]`` on the command line, a mapping in YAML; values of ``value`` kind."""

    value: Kind
    what: str = "KEY=VALUE"

    @property
    def describe(self) -> str:  # type: ignore[override]
        return f"{self.what} (VALUE {self.value.describe})"

    @property
    def metavar(self) -> str:  # type: ignore[override]
        return self.what

    def check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not value:
            raise self.fail(value)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k.strip():
                raise self.fail(value)
            try:
                out[k] = self.value.check(v)
            except Invalid as exc:
                raise Invalid(f"{k}: {exc}") from None
        return out

    def parse(self, text: str) -> dict[str, Any]:
        out = {}
        for part in split_csv(text) or [""]:
            key, sep, raw = part.partition("=")
            if not sep or not key.strip():
                raise Invalid(f"expected {self.what}, not {part!r}")
            try:
                out[key.strip()] = self.value.parse(raw)
            except Invalid as exc:
                raise Invalid(f"{key.strip()}: {exc}") from None
        return out


def split_csv(text: str) -> list[str]:
    return [v.strip() for v in str(text).split(",") if v.strip()]


def short(value: Any, n: int = 80) -> str:
    """``repr(value)`` cut to ``n`` characters (an error message stays one readable line)."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


# -- settings: fields of a config dataclass ---------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """What a config field is: its kind, help, the commands whose options it is, whether it can change a
    value (``identity``), and an optional ``normalise`` applied to YAML/Python values before the check."""

    kind: Kind
    help: str
    commands: tuple[str, ...] = ()
    identity: bool = True
    metavar: str | None = None
    normalise: Callable[[Any], Any] | None = None


def setting(default: Any, kind: Kind, help: str, *, commands: tuple[str, ...] = (), identity: bool = True,
            metavar: str | None = None, normalise: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field declared with everything about it (see ``Setting``)."""
    meta = {"setting": Setting(kind, help, commands, identity, metavar, normalise)}
    return field(default=default, metadata=meta)


def settings(cls: type) -> dict[str, tuple[Setting, Any]]:
    """Each declared field of ``cls``: (setting, default)."""
    return {f.name: (f.metadata["setting"], None if f.default is MISSING else f.default)
            for f in fields(cls) if "setting" in f.metadata}


def check_fields(obj: Any, source: str) -> None:
    """Validate and normalise every declared field of ``obj`` in place; the first bad one is a one-line
    ``ConfigError`` ('SOURCE: KEY must be ..., not ...'). A field whose default is None may be None."""
    for name, (s, default) in settings(type(obj)).items():
        value = getattr(obj, name)
        if value is None and default is None:
            continue
        try:
            if s.normalise is not None:
                value = s.normalise(value)
            setattr(obj, name, s.kind.check(value))
        except Invalid as exc:
            raise ConfigError(f"{source}: {name} {exc}") from None


def add_options(parser: argparse.ArgumentParser, cls: type, command: str, helps: dict[str, str] | None = None) -> list[str]:
    """Add ``--NAME`` options for the fields of ``cls`` declared for ``command`` (default None: an option
    not given leaves the config file's value); returns their names. ``helps`` overrides a field's help."""
    names = []
    for name, (s, default) in settings(cls).items():
        if command not in s.commands:
            continue
        text = (helps or {}).get(name, s.help)
        if default is not None and not isinstance(default, bool):
            text += f" (default: {default})"
        flag = "--" + name.replace("_", "-")
        if isinstance(s.kind, Flag):
            parser.add_argument(flag, action="store_true", default=None, help=text)
        else:
            parser.add_argument(flag, type=s.kind, default=None, help=text, metavar=s.metavar or s.kind.metavar)
        names.append(name)
    return names


# -- options of metrics and codecs -------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One option of a metric or codec, declared by it and resolved once (``codecbench.pipeline.resolve``).

    ``default`` may be a callable of the resolved device (e.g. a compute type that depends on it);
    ``env`` names an environment variable read as a fallback at resolution time, never inside a
    metric. Options that can change a value (``identity=True``, the default) are part of the run's
    identity: resuming a run folder with another value is refused.
    """

    default: Any
    help: str
    kind: type = str  # str, int, float, bool or dict
    env: str | None = None
    choices: tuple[Any, ...] | None = None
    identity: bool = True

    def default_for(self, device: str) -> Any:
        d = self.default
        return d(device) if callable(d) else copy.deepcopy(d)
