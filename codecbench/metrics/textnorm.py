"""Script-preserving text normalisation for WER/CER, and Unicode script detection.

``normalize`` is deliberately *not* Whisper's English normaliser (which spells numbers, expands
contractions and, in its "basic" form, strips combining marks, destroying Indic text):

1. Unicode NFC (so precomposed and decomposed spellings compare equal);
2. format characters (ZWJ, ZWNJ, BOM, soft hyphen) removed;
3. apostrophes removed inside words ("don't" -> "dont"), every other punctuation or symbol
   character (Unicode categories P* and S*, including the danda and double danda) becomes a space;
4. casefold;
5. whitespace collapsed.

Combining marks (categories Mn/Mc: Indic vowel signs, viramas, nuktas, anusvara, Tamil pulli) are
letters' parts and are always kept. Digits are kept as written (no number spelling).

Scripts are named after the first word of the Unicode character name ("DEVANAGARI", "ARABIC",
"LATIN", "TAMIL", ...), which is what the Unicode Scripts property gives for the scripts we meet.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache

APOSTROPHES = {"'", "\u2019", "\u02bc", "\u2018"}

# Expected scripts per ISO 639-1 language (letters in other scripts count as "wrong script";
# Latin is tolerated in Indic languages only through WRONG_SCRIPT_THRESHOLD, since loanwords and
# acronyms are sometimes written in Latin).
LANG_SCRIPTS: dict[str, tuple[str, ...]] = {
    "en": ("LATIN",), "fr": ("LATIN",), "de": ("LATIN",), "es": ("LATIN",), "it": ("LATIN",),
    "pt": ("LATIN",), "nl": ("LATIN",), "pl": ("LATIN",), "sw": ("LATIN",), "id": ("LATIN",),
    "tr": ("LATIN",), "vi": ("LATIN",), "cs": ("LATIN",), "ro": ("LATIN",), "sv": ("LATIN",),
    "hi": ("DEVANAGARI",), "mr": ("DEVANAGARI",), "ne": ("DEVANAGARI",), "sa": ("DEVANAGARI",),
    "bn": ("BENGALI",), "as": ("BENGALI",), "ta": ("TAMIL",), "te": ("TELUGU",), "kn": ("KANNADA",),
    "ml": ("MALAYALAM",), "gu": ("GUJARATI",), "pa": ("GURMUKHI",), "or": ("ORIYA",), "si": ("SINHALA",),
    "ur": ("ARABIC",), "ar": ("ARABIC",), "fa": ("ARABIC",), "ps": ("ARABIC",),
    "ru": ("CYRILLIC",), "uk": ("CYRILLIC",), "bg": ("CYRILLIC",), "el": ("GREEK",), "he": ("HEBREW",),
    "th": ("THAI",), "ka": ("GEORGIAN",), "hy": ("ARMENIAN",), "am": ("ETHIOPIC",),
    "zh": ("CJK",), "ja": ("CJK", "HIRAGANA", "KATAKANA"), "ko": ("HANGUL",),
}

SCRIPT_TITLE = {"CJK": "Han", "ORIYA": "Odia"}


def normalize(text: str | None) -> str:
    """The comparable form of a transcript (see the module docstring)."""
    if not text:
        return ""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        cat = unicodedata.category(ch)
        if cat == "Cf" or ch in APOSTROPHES:
            continue
        if cat[0] in "PS" or cat[0] == "Z" or ch.isspace() or cat == "Cc":
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).casefold().split())


@lru_cache(maxsize=8192)
def char_script(ch: str) -> str | None:
    """The script of a letter or combining mark ("DEVANAGARI", "ARABIC", ...); None otherwise."""
    cat = unicodedata.category(ch)
    if cat[0] not in "LM":
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return None
    first = name.split(" ", 1)[0]
    if first in ("COMBINING", "MODIFIER"):
        return None  # script-neutral marks (inherit the base letter's script)
    if first == "FULLWIDTH" or first == "HALFWIDTH":
        parts = name.split(" ")
        return parts[1] if len(parts) > 1 else None
    return first


def script_counts(text: str) -> Counter[str]:
    """Letters (and marks) per script."""
    return Counter(s for s in map(char_script, text) if s is not None)


def dominant_script(text: str) -> str | None:
    counts = script_counts(text)
    return counts.most_common(1)[0][0] if counts else None


def expected_scripts(lang: str | None) -> tuple[str, ...] | None:
    """Scripts a transcript in ``lang`` should use; None when we don't know the language."""
    if not lang:
        return None
    return LANG_SCRIPTS.get(lang.lower().split("-")[0].split("_")[0])


def wrong_script_share(text: str, lang: str | None) -> float | None:
    """Share of letters not in the language's script(s); None when unknown or no letters."""
    want = expected_scripts(lang)
    counts = script_counts(text)
    total = sum(counts.values())
    if want is None or total == 0:
        return None
    return sum(n for s, n in counts.items() if s not in want) / total


def script_title(script: str | None) -> str:
    """'ARABIC' -> 'Arabic' (for messages)."""
    if script is None:
        return "no"
    return SCRIPT_TITLE.get(script, script.title())
