"""A small synthetic multilingual set from espeak-ng (a few voices and speeds per sentence), written as a
JSONL manifest in a folder, to mix other languages into training cheaply."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

SENTENCES = {
    "en": [
        "The quick brown fox jumps over the lazy dog.",
        "Please call Stella and ask her to bring these things with her from the store.",
        "The weather report says it will rain heavily tomorrow morning.",
        "We measured the quality of every codec on the same recordings.",
        "A large crowd gathered near the station to watch the parade.",
        "Seven hundred and forty two people attended the conference this year.",
        "She sells sea shells by the sea shore, but nobody buys them.",
        "Could you tell me the way to the nearest hospital, please?",
        "The committee will announce its decision after the holidays.",
        "Fresh vegetables are delivered to the market every Thursday.",
        "He opened the window and the cold air rushed into the room.",
        "Our train was delayed by almost two hours because of the fog.",
        "Birds were singing loudly in the garden at dawn.",
        "Reading a book before sleeping helps many people relax.",
        "The engineers tested the bridge before opening it to traffic.",
        "Why did the children run away from the old house?",
    ],
    "ta": [
        "வணக்கம், நீங்கள் எப்படி இருக்கிறீர்கள்?",
        "இன்று காலை சென்னையில் கனமழை பெய்தது.",
        "நான் நேற்று புதிய புத்தகம் ஒன்றை வாங்கினேன்.",
        "மாணவர்கள் தேர்வுக்கு கடினமாக படித்தார்கள்.",
        "இந்த ஊரில் ஒரு பெரிய கோவில் இருக்கிறது.",
        "அவர் தினமும் காலையில் நடைப்பயிற்சி செய்கிறார்.",
        "விவசாயிகள் வயலில் நெல் நடவு செய்கிறார்கள்.",
        "எங்கள் பள்ளியில் ஆண்டு விழா நடைபெற்றது.",
        "குழந்தைகள் பூங்காவில் விளையாடிக் கொண்டிருந்தனர்.",
        "அரசு புதிய திட்டங்களை அறிவித்துள்ளது.",
        "மதுரை ஒரு பழமையான நகரம் ஆகும்.",
        "நாளை கூட்டம் பத்து மணிக்கு தொடங்கும்.",
        "தண்ணீரை சிக்கனமாக பயன்படுத்த வேண்டும்.",
        "அவள் இனிமையான குரலில் பாடல் பாடினாள்.",
        "இந்த சாலை மிகவும் நெரிசலாக இருக்கிறது.",
        "மருத்துவர் நோயாளியை கவனமாக பரிசோதித்தார்.",
    ],
}
VOICE_VARIANTS = ("", "+m3", "+f2")
SPEEDS = (150, 185)


def synthesize(folder: str | Path, langs: list[str]) -> Path:
    """Write WAVs and ``manifest.jsonl`` into ``folder``; returns the manifest path."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for lang in langs:
        if lang not in SENTENCES:
            raise ValueError(f"no espeak sentences for {lang!r}; have {', '.join(SENTENCES)}")
        for i, text in enumerate(SENTENCES[lang]):
            for v, variant in enumerate(VOICE_VARIANTS):
                for speed in SPEEDS:
                    name = f"{lang}_{i:02d}_v{v}_s{speed}.wav"
                    subprocess.run([exe, "-v", lang + variant, "-s", str(speed), "-w", str(out / name), text],
                                   check=True, capture_output=True, timeout=60)
                    rows.append({"id": name[:-4], "path": name, "lang": lang, "text": text})
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return manifest
