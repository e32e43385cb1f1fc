"""Metric models trained on some languages only: a declaration (``trained_languages`` in a metric's
info, recorded in metrics.json) and the note a figure in another language carries.

A model-based predictor (a MOS predictor trained on English ratings, say) still gives a number for
Hindi speech, but nobody checked that the number means the same thing there. The figure is kept and
flagged, never dropped: the summary's ``note`` says which languages the model knows.
"""

from __future__ import annotations


def base_language(lang: str | None) -> str | None:
    """'en-US' / 'en_us' -> 'en'."""
    return lang.lower().replace("_", "-").split("-")[0] if lang else None


def language_note(metric: str, trained: tuple[str, ...] | list[str] | None, lang: str | None) -> str | None:
    """The note for a figure of ``metric`` in ``lang`` ('all' pools languages), or None when the model
    was trained on it, the model declares no languages, or the language is unknown."""
    if not trained or not lang or lang == "all":
        return None
    if base_language(lang) in {base_language(t) for t in trained}:
        return None
    return f"{metric}: model trained on {', '.join(trained)} only, not on {lang}"


def group_note(metric: str, trained: tuple[str, ...] | list[str] | None, langs: list[str]) -> str | None:
    """The note for a figure pooling ``langs``: names the languages the model was not trained on."""
    if not trained:
        return None
    known = {base_language(t) for t in trained}
    other = sorted({x for x in langs if x and base_language(x) not in known})
    if not other:
        return None
    return f"{metric}: model trained on {', '.join(trained)} only, not on {', '.join(other)}"
