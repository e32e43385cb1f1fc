"""One registry for everything codecbench finds by name: codecs, metrics and models.

A ``Registry`` holds the items of one kind, by name: first those of its built-in modules (each
module's ``attr()``, e.g. ``codecbench.codecs.opus.specs()``), then those of the installed plugins'
entry points in its group (``codecbench.codecs``, ``codecbench.metrics``, ``codecbench.models``). An
entry point names a function returning items, a list of items, or one item. Built-in modules stay
cheap to import (models and backends load later). Items are collected once, on first use; a plugin
that fails to load is a warning (listed by ``errors()``), never a broken built-in set, and a plugin
never replaces a built-in of the same name.
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from codecbench import has_module
from codecbench.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str, modules: tuple[str, ...], attr: str, item_type: type | tuple[type, ...],
                 name_of: Callable[[T], str] = lambda item: item.name, hint: str = ""):
        self.kind, self.group, self.modules, self.attr = kind, group, modules, attr
        self.item_type, self.name_of, self.hint = item_type, name_of, hint
        self._items: dict[str, T] | None = None
        self._errors: list[str] = []

    def _collect(self, obj: Any) -> list[T]:
        if isinstance(obj, self.item_type):
            return [obj]
        if callable(obj):
            obj = obj()
        if isinstance(obj, self.item_type):
            return [obj]
        return [x for x in obj if isinstance(x, self.item_type)]

    def _load(self) -> dict[str, T]:
        items: dict[str, T] = {}
        for mod_name in self.modules:
            if has_module(mod_name):
                for item in self._collect(getattr(importlib.import_module(mod_name), self.attr, list)):
                    items[self.name_of(item)] = item
        for ep in entry_points(group=self.group):
            try:
                found = self._collect(ep.load())
            except Exception as exc:  # a broken plugin must not break the built-ins
                self._errors.append(f"{self.kind} plugin {ep.name!r} ({ep.value}) failed to load: {exc}")
                warnings.warn(self._errors[-1], stacklevel=3)
                continue
            for item in found:
                items.setdefault(self.name_of(item), item)
        return items

    def all(self) -> dict[str, T]:
        """Every item by name (built-ins first, then plugins); the live mapping (``register`` adds to it)."""
        if self._items is None:
            self._items = self._load()
        return self._items

    def get(self, name: str) -> T:
        """The item called ``name``; an unknown name is an ``UnknownName`` listing close matches."""
        items = self.all()
        if name not in items:
            close = difflib.get_close_matches(name, items, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownName(f"unknown {self.kind} {name!r}.{hint}{self.hint}")
        return items[name]

    def register(self, item: T) -> None:
        """Add an item at run time (tests, notebooks)."""
        self.all()[self.name_of(item)] = item

    def errors(self) -> list[str]:
        """Why plugins failed to load (each also warned once)."""
        self.all()
        return list(self._errors)

    def reset(self) -> None:
        """Forget what was collected: the next use looks at the modules and entry points again."""
        self._items, self._errors = None, []
