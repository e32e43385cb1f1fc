"""One-file codecs: ``--codecs path/to/mycodec.py:MyCodec`` (in a config: ``{name: MyCodec, file:
path/to/mycodec.py}``) runs the ``Codec`` subclass ``MyCodec`` defined in that file, without a
package or an entry point (those stay for packaged plugins, ``adapters/README.md``).

The class declares its metadata as a class attribute ``info = CodecInfo(...)`` and is built as
``MyCodec(MyCodec.info, device)``; the class name may be left out when the file defines one
``Codec`` subclass. The codec's name in the run is the string given, with the file's absolute path
(so config.yaml re-runs from any folder and Ray workers find it). The file's content hash is its
revision (``codec_revisions``, like an in-house checkpoint's): an edited file is another run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from codecbench.errors import ConfigError

_MODULES: dict[str, object] = {}  # content hash -> the imported module, once per process


def is_file_codec(name: str) -> bool:
    return name.partition(":")[0].strip().endswith(".py")


def absolute(name: str) -> str:
    """``name`` with a one-file codec's path made absolute; other names unchanged."""
    if not is_file_codec(name):
        return name
    file, sep, cls = name.partition(":")
    return f"{Path(file.strip()).absolute()}{sep}{cls.strip()}"


def revision(name: str) -> str:
    """``sha256:<hex>`` of the file's content."""
    return "sha256:" + hashlib.sha256(_read(name.partition(":")[0].strip())).hexdigest()


def codec_class(name: str) -> tuple[type, Any]:
    """The ``Codec`` subclass ``FILE.py[:CLASS]`` names and its ``info`` (the file imported once per content)."""
    from codecbench.codecs.base import Codec
    from codecbench.types import CodecInfo

    file, _, cls_name = (p.strip() for p in name.partition(":"))
    module = _module(file)
    found = {n: c for n, c in vars(module).items()
             if inspect.isclass(c) and issubclass(c, Codec) and c.__module__ == module.__name__}
    if cls_name:
        cls = found.get(cls_name)
        if cls is None:
            have = ", ".join(found) or "none"
            raise ConfigError(f"codec {name!r}: {file} defines no Codec subclass {cls_name!r} (it defines: {have})")
    elif len(found) == 1:
        cls = next(iter(found.values()))
    else:
        raise ConfigError(f"codec {name!r}: name the class (FILE.py:CLASS); {file} defines "
                          f"{', '.join(found) or 'no Codec subclass'}")
    info = getattr(cls, "info", None)
    if not isinstance(info, CodecInfo):
        raise ConfigError(f"codec {name!r}: class {cls.__name__} needs a class attribute info = CodecInfo(name=..., "
                          "family=..., sample_rate=...)")
    return cls, info


def _read(file: str) -> bytes:
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"codec file {file}: {exc.strerror or exc}") from None


def _module(file: str):
    data = _read(file)
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _MODULES:
        mod_name = f"codecbench_file_codec_{digest[:16]}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, file)
        if loader_spec is None or loader_spec.loader is None:
            raise ConfigError(f"codec file {file}: not a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module  # classes pickle by module name (Ray, worker processes)
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            raise ConfigError(f"codec file {file} failed to import: {type(exc).__name__}: {exc}") from None
        _MODULES[digest] = module
    return _MODULES[digest]
