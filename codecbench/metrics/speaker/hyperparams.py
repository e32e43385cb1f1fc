"""A reader for SpeechBrain's hyperparams.yaml (the !new:/!ref tags it uses), without speechbrain."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any


def read_hyperparams(path: str | os.PathLike) -> dict[str, Any]:
    """HyperPyYAML read without speechbrain: ``!new:``/``!name:`` tags become dicts with a
    ``__class__`` key, ``!ref <name>`` references to top-level keys are resolved."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, tag_suffix, node):
        if isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        elif isinstance(node, yaml.SequenceNode):
            value = {"__args__": loader.construct_sequence(node, deep=True)}
        else:
            value = {"__args__": loader.construct_scalar(node)}
        return {"__class__": tag_suffix, **value}

    def ref(loader, node):
        return {"__ref__": loader.construct_scalar(node)}

    Loader.add_multi_constructor("!new:", tagged)
    Loader.add_multi_constructor("!name:", tagged)
    Loader.add_multi_constructor("!apply:", tagged)
    Loader.add_constructor("!ref", ref)
    Loader.add_constructor("!copy", ref)
    Loader.add_constructor("!PLACEHOLDER", lambda loader, node: None)
    raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=Loader) or {}

    def resolve(v, depth=0):
        if depth > 20:
            raise ValueError("!ref cycle in hyperparams.yaml")
        if isinstance(v, dict) and "__ref__" in v and len(v) == 1:
            text = str(v["__ref__"]).strip()
            whole = re.fullmatch(r"<([^<>]+)>", text)
            if whole:
                return resolve(raw.get(whole.group(1).split("[")[0]), depth + 1)
            return re.sub(r"<([^<>]+)>", lambda m: str(resolve(raw.get(m.group(1)), depth + 1)), text)
        if isinstance(v, dict):
            return {k: resolve(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [resolve(x, depth + 1) for x in v]
        return v

    return {k: resolve(v) for k, v in raw.items() if k not in ("modules", "pretrainer")}
