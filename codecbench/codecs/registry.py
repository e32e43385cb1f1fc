"""Codec registry (``CODECS``, a ``codecbench.registry.Registry``): built-in families plus third-party
plugins from the ``codecbench.codecs`` entry points.

A family module exposes ``specs() -> list[CodecSpec]`` and must stay cheap to import (backends are
imported inside ``CodecSpec.load``). A plugin's entry point names either such a ``specs`` function,
a list of specs, or a single ``CodecSpec``.

Names carry variants (``opus-6kbps``, ``encodec-24k-6kbps``); ``NAME:ARG`` passes ARG to the
loader (``ours-rvq:path/to/ckpt``) for specs with ``accepts_arg``; ``FILE.py[:CLASS]`` is a one-file
codec (``codecs/from_file.py``); declared ``options`` are passed to the loader as keyword arguments. A
run names each codec's rows by its label (``codecbench.config.CodecEntry``); the registry only sees
``NAME[:ARG]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codecbench import has_module
from codecbench.codecs.base import Codec, CodecUnavailable
from codecbench.errors import UnknownName
from codecbench.registry import Registry
from codecbench.schema import Option
from codecbench.types import CodecInfo

ENTRY_POINT_GROUP = "codecbench.codecs"

# Family modules inside codecbench; each has specs(). Order is the listing order.
BUILTIN_FAMILIES = (
    "codecbench.codecs.opus",
    "codecbench.codecs.inhouse",
    "codecbench.codecs.encodec",
    "codecbench.codecs.dac",
    "codecbench.codecs.mimi",
    "codecbench.codecs.snac",
    "codecbench.codecs.reference",
)


@dataclass(frozen=True)
class CodecSpec:
    """How to build one codec variant, and what it needs."""

    info: CodecInfo
    load: Callable[[str | None, str], Codec]  # (arg after ':', device) -> Codec
    requires: tuple[str, ...] = ()  # importable Python modules
    install_hint: str = ""
    accepts_arg: bool = False
    check: Callable[[], str | None] | None = None  # extra availability check: reason, or None if fine
    # What exactly the weights behind the name are, for the run's identity: (arg after ':') -> a content
    # hash of a local checkpoint or a pinned hub revision; None where the name alone says it.
    revision: Callable[[str | None], str | None] | None = None
    # Declared options (``{name: ..., options: {...}}`` in a run config), resolved once like a metric's
    # (``codecbench.pipeline.resolve``) and passed to ``load`` as keyword arguments; those that can change a
    # value are part of the run's identity. None declared: ``load(arg, device)`` gets no options.
    options: dict[str, Option] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.info.name

    def unavailable_reason(self, arg: str | None = None) -> str | None:
        """Why this codec cannot run here, or None. With an ``arg`` (``NAME:ARG``, e.g. a local weights
        folder) the extra ``check`` is skipped: the loader validates the arg itself."""
        missing = [m for m in self.requires if not has_module(m)]
        if missing:
            hint = f" ({self.install_hint})" if self.install_hint else ""
            return f"missing Python package(s): {', '.join(missing)}{hint}"
        if self.check is not None and (arg is None or not self.accepts_arg):
            return self.check()
        return None


DEFAULT_CODECS = ("opus-6kbps", "opus-12kbps", "opus-24kbps", "ours-rvq", "ours-fsq", "ours-vae")


def default_codecs() -> list[str]:
    """The default codec set: every default codec that is registered and can run here."""
    import warnings

    specs = all_specs()
    chosen = []
    for name in DEFAULT_CODECS:
        if name in specs:
            reason = specs[name].unavailable_reason()
            if reason is None:
                chosen.append(name)
            else:
                warnings.warn(f"default codec {name} skipped: {reason}", stacklevel=2)
    return chosen


CODECS: Registry[CodecSpec] = Registry("codec", ENTRY_POINT_GROUP, BUILTIN_FAMILIES, "specs", CodecSpec,
                                       hint=" Run `codecbench codecs` to list them.")


def all_specs() -> dict[str, CodecSpec]:
    """Every known codec variant by name (built-ins first, then plugins)."""
    return CODECS.all()


def plugin_errors() -> list[str]:
    return CODECS.errors()


def register(spec: CodecSpec) -> None:
    """Add a codec at run time (tests, notebooks)."""
    CODECS.register(spec)


def split_name(name: str) -> tuple[str, str | None]:
    base, sep, arg = name.partition(":")
    return base.strip(), (arg.strip() if sep else None)


def get_spec(name: str) -> CodecSpec:
    """The spec for ``name`` (``NAME``, ``NAME:ARG`` or a one-file codec ``FILE.py[:CLASS]``); unknown
    names list close matches."""
    from codecbench.codecs import from_file

    if from_file.is_file_codec(name):
        cls, info = from_file.codec_class(name)
        return CodecSpec(info=info, load=lambda arg, device: cls(info, device), accepts_arg=True,
                         revision=lambda arg: from_file.revision(name))
    base, arg = split_name(name)
    spec = CODECS.get(base)
    if arg is not None and not spec.accepts_arg:
        raise UnknownName(f"codec {base!r} takes no ':ARG' (got {name!r})")
    return spec


def codec_revision(name: str) -> str | None:
    """The revision of the weights ``name`` (``NAME`` or ``NAME:ARG``) decodes with, if its spec has one."""
    spec = get_spec(name)
    return spec.revision(split_name(name)[1]) if spec.revision is not None else None


def require_available(name: str) -> CodecSpec:
    """The spec for ``name``; raises CodecUnavailable with the reason and how to fix it."""
    spec = get_spec(name)
    reason = spec.unavailable_reason(split_name(name)[1])
    if reason:
        raise CodecUnavailable(f"codec {spec.name!r} cannot run here: {reason}")
    return spec


def load_codec(name: str, device: str = "auto", options: dict[str, Any] | None = None) -> Codec:
    """Build a ready codec (``options``: resolved values of its declared options); raises
    CodecUnavailable with the reason and how to fix it."""
    spec = require_available(name)
    if options:
        return spec.load(split_name(name)[1], device, **options)
    return spec.load(split_name(name)[1], device)
