"""Script-preserving normalisation and script detection."""

from __future__ import annotations

import unicodedata

from codecbench.metrics import textnorm as tn


def test_devanagari_marks_survive_and_danda_is_removed():
    text = "उन्होंने कहा, “स्वास्थ्य ज़रूरी है।” क्या?॥"
    out = tn.normalize(text)
    assert out == unicodedata.normalize("NFC", "उन्होंने कहा स्वास्थ्य ज़रूरी है क्या")
    for mark in ("\u094d", "\u0902", "\u094b", "\u093c", "\u0947"):  # virama, anusvara, o-sign, nukta, e-sign
        assert mark in out
    assert "\u0964" not in out and "\u0965" not in out


def test_tamil_vowel_signs_and_pulli_survive():
    text = "வணக்கம்! நீங்கள் எப்படி இருக்கிறீர்கள்?"
    out = tn.normalize(text)
    assert out == "வணக்கம் நீங்கள் எப்படி இருக்கிறீர்கள்"
    assert "\u0bcd" in out and "\u0bc0" in out  # pulli (virama), ii-sign


def test_nfc_makes_decomposed_and_precomposed_equal():
    decomposed = "Cafe\u0301 cre\u0300me"
    assert tn.normalize(decomposed) == tn.normalize("Café crème") == "café crème"
    # Tamil o-sign: precomposed U+0BCA vs U+0BC6 U+0BBE
    assert tn.normalize("\u0b95\u0bc6\u0bbe") == tn.normalize("\u0b95\u0bca")


def test_casefold_punctuation_apostrophes_whitespace_and_format_chars():
    assert tn.normalize("  And so, my fellow AMERICANS —\task not!  ") == "and so my fellow americans ask not"
    assert tn.normalize("Don't  STOP") == "dont stop"
    assert tn.normalize("क्\u200dष") == "क्ष"  # ZWJ dropped
    assert tn.normalize("") == "" and tn.normalize(None) == ""
    assert tn.normalize("१२३ 123") == "१२३ 123"  # digits kept as written


def test_script_detection():
    assert tn.dominant_script("नमस्ते दुनिया") == "DEVANAGARI"
    assert tn.dominant_script("اُدھر بھاڑ میں") == "ARABIC"
    assert tn.dominant_script("hello") == "LATIN"
    assert tn.dominant_script("வணக்கம்") == "TAMIL"
    assert tn.dominant_script("123 !?") is None
    assert tn.wrong_script_share("اُدھر بھاڑ", "hi") == 1.0
    assert tn.wrong_script_share("नमस्ते", "hi") == 0.0
    assert 0 < tn.wrong_script_share("नमस्ते UGC", "hi") < 0.5
    assert tn.wrong_script_share("abc", "xx") is None
    assert tn.expected_scripts("hi-IN") == ("DEVANAGARI",)
    assert tn.script_title("ARABIC") == "Arabic"
