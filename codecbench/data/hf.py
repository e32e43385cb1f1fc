"""🤗 datasets as input: ``hf:NAME[:CONFIG][:SPLIT]`` (the Hub, or a local repository folder) and a
``save_to_disk`` folder given as a path.

* **Identity**: a hub dataset is read at one commit (``dataset_revision``: given, or the one found,
  then pinned in the run's identity and config.yaml); a ``save_to_disk`` folder by its fingerprint.
  ``HF_DATASETS_OFFLINE=1`` (or ``HF_HUB_OFFLINE``) reads the prepared cache only; a pinned commit
  that is not the cached one is refused rather than silently replaced.
* **Columns**: the audio column is the one ``Audio`` feature; id, language, text and speaker come
  from the first present of ``COLUMN_NAMES`` (ClassLabel values by name), or from
  ``dataset_columns``; ``dataset_lang`` fixes every row's language (sets without a language column,
  or that name it otherwise, e.g. FLEURS' ``language: Hindi``). Without an id column the id is the
  stem of the clip's file name, else ``<split>-<row>``.
* **Audio**: ``Audio(decode=False)`` everywhere: the stored bytes are decoded by soundfile when the
  batch is loaded (``codecbench.data.sources``), never by torchaudio or torchcodec.
* **Limits before decoding**: ``--langs``/``--limit`` are applied while the metadata columns are
  listed; only kept rows' headers are read. A hub split that is not in the local cache is
  *streamed* when a limit is given (only the kept rows are fetched; their encoded bytes are kept
  under ``$CODECBENCH_CACHE/hf``, unchanged); otherwise it is downloaded and prepared by ``datasets``
  as usual (so later runs work offline).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from codecbench.data import records, sources
from codecbench.data.dataset import Dataset, DatasetError, Limiter, probe, unique
from codecbench.types import Utterance

INSTALL_HINT = "pip install 'codecbench[datasets]'"
ROLES = ("id", "lang", "text", "speaker")
COLUMN_NAMES = {
    "id": ("id", "utt_id", "utterance_id", "key", "segment_id", "audio_id"),
    "lang": ("lang", "language", "locale"),
    "text": ("text", "sentence", "raw_transcription", "transcription", "transcript", "normalized_text"),
    "speaker": ("speaker", "speaker_id", "client_id", "spk_id"),
}
SPLITS = ("test", "validation", "dev")  # the split read when none is named, first present


def is_disk_dataset(path: Path) -> bool:
    """A ``save_to_disk`` folder (one dataset, or a DatasetDict of splits)."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``hf:NAME[:CONFIG][:SPLIT]`` -> (name, config, split); empty parts are None."""
    parts = spec[len("hf:"):].split(":")
    if not parts[0] or len(parts) > 3:
        raise DatasetError(f"{spec!r}: expected hf:NAME[:CONFIG][:SPLIT], e.g. hf:openslr/librispeech_asr:clean:test")
    name, config, split = (parts + [None, None])[:3]
    return name, config or None, split or None


def read(spec: str, columns: dict[str, str] | None = None, lang: str | None = None, revision: str | None = None,
         langs: list[str] | None = None, limit: int | None = None) -> Dataset:
    """The dataset ``spec`` names (``hf:...`` or a save_to_disk folder), as utterances."""
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise DatasetError(f"{spec}: reading 🤗 datasets needs the datasets package ({INSTALL_HINT})") from None
    columns = dict(columns or {})
    unknown = sorted(set(columns) - {"audio", *ROLES})
    if unknown:
        raise DatasetError(f"dataset_columns: unknown role(s) {', '.join(unknown)}; roles: audio, {', '.join(ROLES)}")
    limiter = Limiter(langs, limit)
    if spec.startswith("hf:"):
        name, config, split = parse_spec(spec)
        utts, rev, label = _hub(spec, name, config, split, revision, columns, lang, limiter)
    else:
        utts, rev, label = _disk(Path(spec), revision, columns, lang, limiter)
    if not utts:
        raise DatasetError(f"{spec}: no rows to run (after --langs/--limit)" if limiter.seen else f"{spec}: no rows")
    return Dataset(name=label, source=spec if spec.startswith("hf:") else str(Path(spec).resolve()),
                   utterances=[probe(u) for u in unique(utts, spec)], revision=rev, seen_langs=sorted(limiter.seen))


# -- where the rows come from --------------------------------------------------------------------
def _offline() -> bool:
    import datasets

    return bool(datasets.config.HF_HUB_OFFLINE)


def _hub(spec: str, name: str, config: str | None, split: str | None, revision: str | None,
         columns: dict[str, str], lang: str | None, limiter: Limiter) -> tuple[list[Utterance], str, str]:
    import datasets

    try:
        builder = datasets.load_dataset_builder(name, config, revision=revision)
    except ConnectionError as exc:
        why = "offline (HF_DATASETS_OFFLINE/HF_HUB_OFFLINE)" if _offline() else "the Hub cannot be reached"
        raise DatasetError(f"{spec}: not in the local 🤗 datasets cache and {why} ({exc})") from None
    except (ValueError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise DatasetError(f"{spec}: {str(exc).splitlines()[0]}") from None
    rev = str(builder.hash or "")
    if revision and re.fullmatch(r"[0-9a-f]{7,40}", revision) and not rev.startswith(revision):
        raise DatasetError(f"{spec}: the config pins commit {revision}, but {rev or 'another'} is what is here "
                           "(the offline cache holds another commit); leave dataset_revision out to read this one")
    splits = list(builder.info.splits or {}) or list(getattr(builder.config, "data_files", None) or {})
    split = _split(spec, split, splits)
    label = "-".join(p for p in (name.rstrip("/").split("/")[-1], config, split) if p)
    prepared = Path(builder.cache_dir, datasets.config.DATASET_INFO_FILENAME).is_file()
    if limiter.limit is not None and not prepared:
        stream = builder.as_streaming_dataset(split=split)
        return _streamed(stream, spec, label, rev, columns, lang, limiter), rev, label
    try:
        builder.download_and_prepare()
        ds = builder.as_dataset(split=split)
    except ConnectionError as exc:
        raise DatasetError(f"{spec}: cannot download it ({exc})") from None
    return _arrow(ds, spec, split, columns, lang, limiter), rev, label


def _disk(path: Path, revision: str | None, columns: dict[str, str], lang: str | None,
          limiter: Limiter) -> tuple[list[Utterance], str, str]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise DatasetError(f"{path}: not a save_to_disk folder ({str(exc).splitlines()[0]})") from None
    split = None
    if isinstance(loaded, datasets.DatasetDict):
        split = _split(str(path), None, list(loaded))
        loaded = loaded[split]
    rev = str(loaded._fingerprint)
    if revision and revision != rev:
        raise DatasetError(f"{path}: the config is for the dataset with fingerprint {revision}, this one is {rev} "
                           "(it changed); leave dataset_revision out to score it as a new run")
    return _arrow(loaded, str(path), split or "", columns, lang, limiter), rev, path.name


def _split(where: str, split: str | None, splits: list[str]) -> str:
    if split is not None:
        if splits and split not in splits:
            raise DatasetError(f"{where}: no split {split!r}; it has: {', '.join(splits)}")
        return split
    found = next((s for s in SPLITS if s in splits), None) or (splits[0] if len(splits) == 1 else None)
    if found is None:
        raise DatasetError(f"{where}: name the split (hf:NAME:CONFIG:SPLIT, or the split's folder); it has: "
                           f"{', '.join(splits) or 'none'}")
    return found


# -- columns -------------------------------------------------------------------------------------
def _roles(features, given: dict[str, str], lang: str | None, where: str) -> dict[str, str]:
    """Role -> column (audio always; the others where found or named)."""
    from datasets import Audio

    if features is None:
        raise DatasetError(f"{where}: the dataset declares no features; name its audio column "
                           "(dataset_columns: {audio: COLUMN})")
    names = list(features)
    for role, col in given.items():
        if col not in features:
            raise DatasetError(f"{where}: dataset_columns.{role}: no column {col!r}; columns: {', '.join(names)}")
    audio_cols = [c for c, f in features.items() if isinstance(f, Audio)]
    audio = given.get("audio")
    if audio is None:
        if len(audio_cols) != 1:
            raise DatasetError(f"{where}: {'no' if not audio_cols else 'several'} Audio column(s) "
                               f"({', '.join(audio_cols) or 'columns: ' + ', '.join(names)}); name one with "
                               "dataset_columns: {audio: COLUMN}")
        audio = audio_cols[0]
    elif not isinstance(features[audio], Audio):
        raise DatasetError(f"{where}: dataset_columns.audio: column {audio!r} is not an Audio column")
    roles = {"audio": audio}
    for role in ROLES:
        if role in given:
            roles[role] = given[role]
        elif not (role == "lang" and lang):
            found = next((c for c in COLUMN_NAMES[role] if c in features and c != audio), None)
            if found:
                roles[role] = found
    return roles


def _value(features, col: str, v: Any) -> Any:
    from datasets import ClassLabel

    f = features.get(col)
    if isinstance(f, ClassLabel) and isinstance(v, int) and v >= 0:
        return f.int2str(v)
    return v


def _utterance(row: dict[str, Any], i: int, roles: dict[str, str], features, split: str, lang: str | None,
               where: str, clip_name: str | None) -> Utterance:
    """A listed row (metadata only) as an Utterance without its audio yet."""
    w = f"{where} row {i}"
    vals = {r: _value(features, c, row[c]) for r, c in roles.items() if r != "audio"}
    if "id" in vals:
        uid = records.as_id(vals["id"], w, DatasetError, roles["id"])
    elif clip_name:
        uid = Path(clip_name).stem
    else:
        uid = f"{split or 'row'}-{i:06d}"
    extra = {c: _value(features, c, v) for c, v in row.items()
             if c not in roles.values() and (v is None or isinstance(v, (str, int, float, bool)))}
    return Utterance(id=uid, lang=lang or records.as_lang(vals.get("lang"), w, DatasetError, roles.get("lang", "lang")),
                     text=records.as_text(vals.get("text"), w, DatasetError, roles.get("text", "text")),
                     speaker=records.as_speaker(vals.get("speaker"), w, DatasetError, roles.get("speaker", "speaker")),
                     extra={k: v for k, v in extra.items() if v is not None and v != ""})


def _arrow(ds, where: str, split: str, columns: dict[str, str], lang: str | None, limiter: Limiter) -> list[Utterance]:
    """Rows of a memory-mapped dataset: metadata listed column by column, audio left in its Arrow file."""
    import pyarrow as pa

    if ds._indices is not None or not ds.cache_files:
        raise DatasetError(f"{where}: not backed by its Arrow files (an indices mapping or in memory); "
                           "save it with .flatten_indices().save_to_disk(PATH)")
    roles = _roles(ds.features, columns, lang, where)
    audio = roles["audio"]
    files = [f["filename"] for f in ds.cache_files]
    tables = [pa.ipc.open_stream(pa.memory_map(f)).read_all() for f in files]
    if sum(t.num_rows for t in tables) != len(ds):
        raise DatasetError(f"{where}: its Arrow files hold {sum(t.num_rows for t in tables)} rows, the dataset {len(ds)}")
    meta = [c for c in ds.column_names if c != audio]
    utts, i = [], 0
    for file, table in zip(files, tables, strict=True):
        cells = table.column(audio)
        names = pa.chunked_array([c.field("path") for c in cells.chunks], pa.string())  # no bytes touched
        for start in range(0, table.num_rows, 1000):
            batch = table.slice(start, 1000).select(meta).to_pylist()
            for k, row in enumerate(batch):
                local = start + k
                u = _utterance(row, i, roles, ds.features, split, lang, where, names[local].as_py())
                i += 1
                if not limiter.take(u.lang):
                    continue
                cell = cells[local].as_py() or {}
                if cell.get("bytes"):
                    u.source = sources.arrow_row(file, local, audio)
                elif cell.get("path"):
                    u.path = cell["path"]
                else:
                    u.extra["load_error"] = f"{where} row {i - 1}: the {audio!r} cell holds no audio"
                utts.append(u)
                if limiter.done:
                    return utts
    return utts


def _streamed(stream, where: str, label: str, rev: str, columns: dict[str, str], lang: str | None,
              limiter: Limiter) -> list[Utterance]:
    """Rows of a streamed split: each kept row's encoded bytes written once under the cache, unchanged."""
    from codecbench import cache_dir
    from codecbench.files import atomic_write
    from codecbench.store import file_stem
    from datasets import Audio

    roles = _roles(stream.features, columns, lang, where)
    audio = roles["audio"]
    stream = stream.cast_column(audio, Audio(decode=False))
    folder = Path(cache_dir(), "hf", re.sub(r"[^\w.-]+", "_", label), rev or "unversioned")
    utts = []
    for i, row in enumerate(stream):
        cell = row.pop(audio) or {}
        u = _utterance(row, i, roles, stream.features, label, lang, where, cell.get("path"))
        if not limiter.take(u.lang):
            continue
        if cell.get("bytes"):
            target = folder / (file_stem(u.id) + Path(cell.get("path") or "").suffix)
            if not target.is_file() or target.stat().st_size != len(cell["bytes"]):
                data = cell["bytes"]
                atomic_write(target, lambda tmp, data=data: Path(tmp).write_bytes(data))
            u.path = str(target)
        elif cell.get("path"):
            u.path = cell["path"]
        else:
            u.extra["load_error"] = f"{where} row {i}: the {audio!r} cell holds no audio"
        utts.append(u)
        if limiter.done:
            break
    return utts
