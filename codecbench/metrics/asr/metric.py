"""The ``wer`` metric: WER/CER against the manifest transcript, dWER/dCER and the exact-match rate
against ASR of the uncompressed reference, from one ASR model per language (``routing.py``; a
reconstruction is transcribed once for all outputs).

- ``wer``, ``cer``: vs the utterance's text (not applicable when the manifest has none);
- ``dwer``, ``dcer``: vs the same ASR model's transcript of the uncompressed reference, so ASR errors
  common to both cancel;
- ``asr_exact_match``: 1.0 when the normalised ASR of the reconstruction equals the normalised ASR of
  the reference, else 0.0, so its mean over utterances is the exact-match rate (a binary value per
  utterance, recorded like any other output, with the same reliability rule).

Texts go through the ``normalizer`` (``normalizers.py``: script-preserving ``textnorm.normalize`` by
default, Whisper's English normaliser for English utterances with ``whisper-english``) and then jiwer;
the language is forced
from the utterance's ``lang`` where the model supports it (the record says whether it was). When the *reference* transcript fails a reliability check
(``checks.py``), the utterance's four values are ``unreliable`` with the reason: the ASR model cannot
read this language, so its errors would look like codec damage. A reconstruction whose transcript
fails a check while the reference's passed keeps its number (the codec broke recognition: that *is*
codec damage). Every scored item appends a transcript record (texts, checks, error counts) to the run
folder's ``asr_transcripts`` stream (``streams``); corpus-level rates and ``asr_reliability.json`` are
computed from those records by its aggregate (``corpus.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codecbench.metrics.asr.checks import check_transcript
from codecbench.metrics.asr.errors import TRANSCRIPTS, error_counts
from codecbench.metrics.asr.factory import backend_unavailable, make_backend
from codecbench.metrics.asr.normalizers import NORMALIZERS, SPELLING_SOURCE, make_normalizer, spelling_file
from codecbench.metrics.asr.routing import BACKENDS, DEFAULT, AsrModel, model_for, routes
from codecbench.metrics.asr.transcriber import SR, Transcriber
from codecbench.metrics.base import (
    Failure,
    Metric,
    MetricFailure,
    MetricInfo,
    MetricInput,
    Option,
    Output,
    Values,
    fail_all,
    package_version,
)
from codecbench.models import ModelMissing, missing_reason

OPTIONS = {
    "backend": Option("auto", "ASR implementation of `model`; auto: inferred from the model (see routing.py)",
                      env="CODECBENCH_ASR_BACKEND", choices=("auto", *BACKENDS)),
    "model": Option("base", "model for languages without a per_lang entry: Whisper size (tiny, base, small, "
                    "medium, large-v3, turbo), hub id or local folder; 'none' for no default model",
                    env="CODECBENCH_WHISPER_MODEL"),
    "revision": Option("", "hub revision (commit, tag or branch) of `model`; empty: main (unpinned)",
                       env="CODECBENCH_ASR_REVISION"),
    "per_lang": Option({}, "a model per language: {LANG: hub id, size or folder, or {model, revision, backend}}",
                       kind=dict),
    "compute_type": Option(lambda device: "float16" if device.startswith("cuda") else "int8",
                           "CTranslate2 compute type (faster-whisper)", env="CODECBENCH_WHISPER_COMPUTE_TYPE"),
    "beam": Option(5, "beam size (Whisper; CTC models decode greedily)", kind=int, env="CODECBENCH_ASR_BEAM"),
    "threads": Option(1, "CPU threads of faster-whisper (quantized kernels may round differently with more)",
                      kind=int, env="CODECBENCH_ASR_THREADS"),
    "normalizer": Option("script", "text normalisation before WER/CER: script (script-preserving, every language) or "
                         "whisper-english (Whisper's English normaliser for English utterances, script for the others)",
                         env="CODECBENCH_ASR_NORMALIZER", choices=NORMALIZERS),
    "normalizer_source": Option(SPELLING_SOURCE, "whisper-english: where its normalizer.json (British->American "
                                "spellings) comes from: hub id[@revision], Whisper tokenizer folder or file",
                                env="CODECBENCH_ASR_NORMALIZER_SOURCE"),
}
OUTPUTS = (
    Output("wer", False, "ratio", "word error rate of ASR on the reconstruction vs the manifest text"),
    Output("cer", False, "ratio", "character error rate vs the manifest text"),
    Output("dwer", False, "ratio", "word error rate vs ASR of the uncompressed reference"),
    Output("dcer", False, "ratio", "character error rate vs ASR of the uncompressed reference"),
    Output("asr_exact_match", True, "share", "1 when the normalised ASR of the reconstruction equals that of the "
           "reference, else 0 (mean: exact-match rate)"),
)


@dataclass(frozen=True)
class AsrInfo(MetricInfo):
    """MetricInfo plus each language's model (``"*"``: languages without their own entry), so that
    metrics.json names the model id, revision and backend of every language."""

    languages: dict[str, dict[str, Any]] = field(default_factory=dict)


def _short(spec: AsrModel) -> str:
    return f"whisper-{spec.model}" if spec.backend != "transformers" and "/" not in spec.model and not spec.local \
        else spec.model


class AsrMetric(Metric):
    name = "wer"
    options = OPTIONS
    streams = (TRANSCRIPTS,)

    def __init__(self) -> None:
        self._transcribers: dict[AsrModel, Transcriber] = {}
        self._device = "cpu"
        self._workdir: str | None = None
        self._normalize: Any = None

    def configure(self, opts: dict[str, Any]) -> AsrMetric:
        new = super().configure(opts)
        new._transcribers, new._normalize = {}, None  # never inherit models
        return new  # type: ignore[return-value]

    def normalize(self, text: str | None, lang: str | None) -> str:
        """The comparable form of a transcript under the configured ``normalizer``."""
        if self._normalize is None:
            self._normalize = make_normalizer(self._opt("normalizer"), self._opt("normalizer_source"))
        return self._normalize(text, lang)

    def _opt(self, key: str) -> Any:
        return self.opts[key] if key in self.opts else OPTIONS[key].default_for(self._device)

    def table(self) -> dict[str, AsrModel]:
        """``{lang or "*": AsrModel}`` of these options (ConfigError on a malformed entry)."""
        return routes({k: self._opt(k) for k in OPTIONS})

    def info(self) -> MetricInfo:
        table = self.table()
        specs = list(dict.fromkeys(table.values()))
        backends = sorted({s.backend for s in specs})
        mode = f"transcribe, no sampling, beam {self._opt('beam')}"
        if "faster-whisper" in backends:
            mode += f", {self._opt('compute_type')}, {self._opt('threads')} thread(s)"
        if "transformers" in backends:
            mode += ", transformers float32 on CPU / float16 on GPU (CTC: greedy)"  # metadata precedes setup()
        norm = self._opt("normalizer")
        mode += f", normalizer {norm}" + (f" ({self._opt('normalizer_source')})" if norm != "script" else "")
        if len(specs) == 1 and set(table) == {DEFAULT}:
            model, revision = _short(specs[0]), specs[0].revision
        else:
            model = "; ".join(f"{'other languages' if k == DEFAULT else k}: {_short(s)}"
                              + (f"@{s.revision}" if s.revision else "") for k, s in table.items())
            revision = None  # per language, in `languages`
        versions = ", ".join(f"{b} {package_version(b)}" for b in backends)
        return AsrInfo(
            name=self.name, outputs=OUTPUTS,
            description=("ASR WER/CER vs the transcript, dWER/dCER and exact-match rate vs ASR of the reference; "
                         f"a model per language; {self._opt('normalizer')} normalisation; language forced where the model "
                         "supports it; unreliable when reference ASR fails its checks"),
            needs_reference=True, needs_text=False, device="gpu", sample_rate=SR, library="+".join(backends),
            version=f"{versions} (jiwer {package_version('jiwer')})", model=model or None, revision=revision,
            mode=mode, batched=True, default=True, languages={k: s.to_dict() for k, s in table.items()},
        )

    def find_unavailable(self) -> str | None:
        table = self.table()
        if not table:
            return "no ASR model: model is 'none' and per_lang is empty"
        for spec in dict.fromkeys(table.values()):
            reason = backend_unavailable(spec)
            if reason:
                langs = ", ".join("other languages" if k == DEFAULT else k for k, s in table.items() if s == spec)
                return f"{reason} (ASR model for {langs})"
        if self._opt("normalizer") != "script":
            return missing_reason(lambda: self.normalize("", None))
        return None

    def configured_models(self) -> dict[AsrModel, list[str]]:
        """Each configured model with the languages it reads (``"*"``: languages without an entry)."""
        out: dict[AsrModel, list[str]] = {}
        for lang, spec in self.table().items():
            out.setdefault(spec, []).append(lang)
        return out

    def model_rows(self) -> list[dict[str, Any]]:
        """``codecbench models --config`` rows: one per configured model, with its state here."""
        rows = []
        for spec, langs in self.configured_models().items():
            reason = backend_unavailable(spec)
            rows.append({"used_by": self.name if langs == [DEFAULT] else f"{self.name} ({', '.join(langs)})",
                         "kind": "metric", "model": spec.model, "revision": spec.revision, "backend": spec.backend,
                         "langs": langs, "options": self.opts, "available": reason is None, "reason": reason})
        return rows

    def prefetch(self, cache_dir: Path | None = None) -> list[tuple[str, Path]]:
        """Download every configured model (``codecbench models download --config``)."""
        from codecbench.metrics.asr.model_specs import fetch

        jobs = [(spec.label, lambda s=spec, langs=langs: fetch(s, langs, cache_dir))
                for spec, langs in self.configured_models().items()]
        if self._opt("normalizer") != "script":
            source = self._opt("normalizer_source")
            jobs.append((f"{self._opt('normalizer')} normalizer ({source})", lambda: spelling_file(source, cache_dir)))
        out, missing = [], []
        for label, job in jobs:  # every one is attempted; what is missing is reported together
            try:
                out.append((label, job()))
            except ModelMissing as exc:
                missing.append(f"{label}: {exc}")
        if missing:
            raise ModelMissing("; ".join(missing))
        return out

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        self._device, self._workdir = device, workdir
        self._transcribers = {}

    def aggregate(self, corpus):
        from codecbench.metrics.asr.corpus import aggregate

        return aggregate(corpus, TRANSCRIPTS)

    def numerics(self, device: str) -> dict[str, Any]:
        """The resolved ASR options and what CTranslate2 offers here (``environment.asr_settings``)."""
        from codecbench.environment import asr_settings

        return {"asr": asr_settings(device, self.opts)}

    def transcriber(self, spec: AsrModel) -> Transcriber:
        """One transcriber (backend + caches) per configured model; its cache key holds every option
        that can change a transcript of that model."""
        if spec not in self._transcribers:
            backend = make_backend(spec, self._device, self._opt("compute_type"), int(self._opt("threads")),
                                   int(self._opt("beam")))
            keyed: dict[str, Any] = {**spec.to_dict(), "beam": self._opt("beam")}
            if spec.backend == "faster-whisper":
                keyed.update(compute_type=self._opt("compute_type"), threads=self._opt("threads"))
            if spec.backend == "transformers":
                keyed["dtype"] = "float16" if self._device.startswith("cuda") else "float32"
            key = hashlib.sha1(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:10]
            self._transcribers[spec] = Transcriber(backend, key, self._workdir)
        return self._transcribers[spec]

    def compute(self, x: MetricInput) -> Values:
        (res,) = self.compute_batch([x])
        for v in res.values():
            if isinstance(v, Failure):
                raise MetricFailure(v.reason, v.kind)
        return res

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        if not xs:
            return []
        reason = self.unavailable_reason()
        if reason:
            return [fail_all(self, Failure.unavailable(reason)) for _ in xs]
        table = self.table()
        groups: dict[AsrModel | None, list[int]] = defaultdict(list)
        for i, x in enumerate(xs):
            groups[model_for(table, x.utterance.lang)].append(i)
        out: list[Values] = [{} for _ in xs]
        records: list[dict[str, Any]] = []
        for spec, idx in groups.items():
            if spec is None:
                for i in idx:
                    out[i] = fail_all(self, Failure.not_applicable(
                        f"no ASR model for language {xs[i].utterance.lang!r} (model is 'none'; add it to per_lang)"))
                continue
            part = [xs[i] for i in idx]
            tr = self.transcriber(spec)
            try:
                refs, hyps = tr.reference_texts(part), tr.reconstruction_texts(part)
            except ModelMissing as exc:
                refs, failure = [], Failure.unavailable(str(exc))
            except MetricFailure as exc:
                refs, failure = [], exc.failure()
            if not refs:
                for i in idx:
                    out[i] = fail_all(self, failure)
                continue
            for i, x, ref_asr, hyp in zip(idx, part, refs, hyps, strict=True):
                out[i], rec = self._score(x, ref_asr, hyp, tr, spec)
                records.append(rec)
        if self._workdir and records:
            from codecbench.store import RunFolder

            RunFolder(self._workdir).append_records(TRANSCRIPTS, records)
        return out

    def _score(self, x: MetricInput, ref_asr: str, hyp: str, tr: Transcriber,
               spec: AsrModel) -> tuple[Values, dict[str, Any]]:
        lang = x.utterance.lang
        ref_check = check_transcript(ref_asr, lang)
        unreliable = ref_check.reason("reference", tr.label)
        ref_norm, hyp_norm = self.normalize(ref_asr, lang), self.normalize(hyp, lang)
        rec: dict[str, Any] = {
            "codec": x.codec.name if x.codec else None, "utt_id": x.utterance.id, "lang": lang, "model": tr.label,
            "model_id": spec.model, "revision": spec.revision, "commit": tr.backend.commit, "backend": spec.backend,
            "language_forced": tr.backend.forces_language(lang),
            "text": x.utterance.text, "reference_asr": ref_asr, "hypothesis": hyp,
            "reference_check": asdict(ref_check), "hypothesis_check": asdict(check_transcript(hyp, lang)),
            "reference_unreliable": unreliable, "exact_match": ref_norm == hyp_norm,
            "normalizer": self._opt("normalizer"),
        }
        if unreliable:
            return fail_all(self, Failure.unreliable(unreliable)), rec
        values: Values = {"asr_exact_match": float(ref_norm == hyp_norm)}
        truths = {"wer": (x.utterance.text, ("wer", "cer")), "dwer": (ref_asr, ("dwer", "dcer"))}
        for kind, (truth, (w, c)) in truths.items():
            if kind == "wer" and not (truth or "").strip():
                values[w] = values[c] = Failure.not_applicable("no transcript for this utterance (the manifest has no text)")
                continue
            try:
                counts = error_counts(self.normalize(truth, lang), hyp_norm)
            except MetricFailure as exc:
                values[w] = values[c] = exc.failure()
                continue
            rec[f"{kind}_counts"] = asdict(counts)
            values[w], values[c] = counts.wer, counts.cer
        return values, rec
