"""The ``wer`` metric: WER/CER against the manifest transcript and dWER/dCER against ASR of the
uncompressed reference, from one ASR model per run (a reconstruction is transcribed once).

- ``wer``, ``cer``: vs the utterance's text (not applicable when the manifest has none);
- ``dwer``, ``dcer``: vs the same ASR model's transcript of the uncompressed reference, so ASR errors
  common to both cancel.

Texts go through ``textnorm.normalize`` (script-preserving) and then jiwer; the language is forced
from the utterance's ``lang``. When the *reference* transcript fails a reliability check
(``checks.py``), the utterance's four values are ``unreliable`` with the reason: the ASR model cannot
read this language, so its errors would look like codec damage. A reconstruction whose transcript
fails a check while the reference's passed keeps its number (the codec broke recognition: that *is*
codec damage). Every scored item appends a transcript record (texts, checks, error counts) to the run
store's ``asr_transcripts`` stream; corpus-level rates and ``asr_reliability.json`` are computed from
those records by the summary.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from typing import Any

from codecbench.metrics import textnorm
from codecbench.metrics.asr.backends import BACKENDS, backend_unavailable, make_backend
from codecbench.metrics.asr.checks import check_transcript
from codecbench.metrics.asr.errors import TRANSCRIPTS, error_counts
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
from codecbench.models import ModelMissing

OPTIONS = {
    "backend": Option("faster-whisper", "ASR implementation", env="CODECBENCH_ASR_BACKEND", choices=tuple(BACKENDS)),
    "model": Option("base", "Whisper size (tiny, base, small, medium, large-v3, turbo), hub id or local folder",
                    env="CODECBENCH_WHISPER_MODEL"),
    "compute_type": Option(lambda device: "float16" if device.startswith("cuda") else "int8",
                           "CTranslate2 compute type (faster-whisper)", env="CODECBENCH_WHISPER_COMPUTE_TYPE"),
    "beam": Option(5, "beam size", kind=int, env="CODECBENCH_ASR_BEAM"),
    "threads": Option(1, "CPU threads of the ASR model (quantized kernels may round differently with more)",
                      kind=int, env="CODECBENCH_ASR_THREADS"),
}


class AsrMetric(Metric):
    name = "wer"
    options = OPTIONS

    def __init__(self) -> None:
        self._reason: str | None | bool = False  # False: not checked yet
        self._transcriber: Transcriber | None = None
        self._device = "cpu"
        self._workdir: str | None = None

    def _opt(self, key: str) -> Any:
        return self.opts[key] if key in self.opts else OPTIONS[key].default_for(self._device)

    @property
    def model_label(self) -> str:
        model = str(self._opt("model"))
        return os.path.basename(model.rstrip("/")) if os.path.isdir(model) else f"whisper-{model}"

    def info(self) -> MetricInfo:
        backend = self._opt("backend")
        model = str(self._opt("model"))
        local = os.path.isdir(model)
        mode = f"transcribe, temperature 0, beam {self._opt('beam')}"
        if backend == "faster-whisper":
            mode += f", {self._opt('compute_type')}, {self._opt('threads')} thread(s)"
        return MetricInfo(
            name=self.name,
            outputs=(Output("wer", False, "ratio", "word error rate of ASR on the reconstruction vs the manifest text"),
                     Output("cer", False, "ratio", "character error rate vs the manifest text"),
                     Output("dwer", False, "ratio", "word error rate vs ASR of the uncompressed reference"),
                     Output("dcer", False, "ratio", "character error rate vs ASR of the uncompressed reference")),
            description=(f"ASR ({backend}) WER/CER vs the transcript and dWER/dCER vs ASR of the reference; "
                         "script-preserving normalisation; language forced; unreliable when reference ASR fails "
                         "its checks"),
            needs_reference=True, needs_text=False, device="gpu", sample_rate=SR, library=backend,
            version=package_version(backend) + f" (jiwer {package_version('jiwer')})",
            model=model if local else self.model_label, revision=None if local else "main", mode=mode,
            batched=True, default=True,
        )

    def unavailable_reason(self) -> str | None:
        if self._reason is False:
            self._reason = backend_unavailable(self._opt("backend"), str(self._opt("model")))
        return self._reason  # type: ignore[return-value]

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        self._device, self._workdir = device, workdir
        self._transcriber = None

    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            backend = make_backend(self._opt("backend"), str(self._opt("model")), self._device,
                                   self._opt("compute_type"), int(self._opt("threads")), int(self._opt("beam")))
            key = hashlib.sha1(json.dumps({k: self._opt(k) for k in OPTIONS}, sort_keys=True,
                                          default=str).encode()).hexdigest()[:10]
            self._transcriber = Transcriber(backend, key, self._workdir)
        return self._transcriber

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
        tr = self.transcriber()
        try:
            refs = tr.reference_texts(xs)
            hyps = tr.reconstruction_texts(xs)
        except ModelMissing as exc:
            return [fail_all(self, Failure.unavailable(str(exc))) for _ in xs]
        except MetricFailure as exc:
            return [fail_all(self, exc.failure()) for _ in xs]
        out, records = [], []
        for x, ref_asr, hyp in zip(xs, refs, hyps, strict=True):
            values, rec = self._score(x, ref_asr, hyp, tr.label)
            out.append(values)
            records.append(rec)
        if self._workdir:
            from codecbench.store import RunStore

            RunStore(self._workdir).append_records(TRANSCRIPTS, records)
        return out

    def _score(self, x: MetricInput, ref_asr: str, hyp: str, label: str) -> tuple[Values, dict[str, Any]]:
        lang = x.utterance.lang
        ref_check = check_transcript(ref_asr, lang)
        unreliable = ref_check.reason("reference", label)
        rec: dict[str, Any] = {
            "codec": x.codec.name if x.codec else None, "utt_id": x.utterance.id, "lang": lang, "model": label,
            "text": x.utterance.text, "reference_asr": ref_asr, "hypothesis": hyp,
            "reference_check": asdict(ref_check), "hypothesis_check": asdict(check_transcript(hyp, lang)),
            "reference_unreliable": unreliable,
        }
        if unreliable:
            return fail_all(self, Failure.unreliable(unreliable)), rec
        values: Values = {}
        hyp_norm = textnorm.normalize(hyp)
        truths = {"wer": (x.utterance.text, ("wer", "cer")), "dwer": (ref_asr, ("dwer", "dcer"))}
        for kind, (truth, (w, c)) in truths.items():
            if kind == "wer" and not (truth or "").strip():
                values[w] = values[c] = Failure.not_applicable("no transcript for this utterance (the manifest has no text)")
                continue
            try:
                counts = error_counts(textnorm.normalize(truth), hyp_norm)
            except MetricFailure as exc:
                values[w] = values[c] = exc.failure()
                continue
            rec[f"{kind}_counts"] = asdict(counts)
            values[w], values[c] = counts.wer, counts.cer
        return values, rec
