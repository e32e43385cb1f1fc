"""A small synthetic multilingual set from espeak-ng (a few voices and speeds per sentence), written as a
JSONL manifest in a folder, to mix other languages into training cheaply.

``en`` and ``ta`` are also the evaluation sets of the condition suite (``bench/inhouse_conditions.py``
speaks them with one voice variant per sentence at another speed): the shipped checkpoints train on
``de,es,fr,hi`` only, so those sentences stay unheard in training."""

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
    "de": [
        "Der Zug nach Hamburg fährt heute eine halbe Stunde später ab.",
        "Meine Großmutter backt jeden Sonntag einen Apfelkuchen.",
        "Im Winter liegt in den Bergen oft sehr viel Schnee.",
        "Können Sie mir bitte sagen, wie spät es ist?",
        "Die Kinder spielen nach der Schule im Park Fußball.",
        "Das neue Museum wurde letzte Woche feierlich eröffnet.",
        "Wir haben uns lange über das Wetter unterhalten.",
        "Am Markt gibt es frisches Obst und Gemüse aus der Region.",
        "Der Arzt empfahl ihm, mehr Wasser zu trinken.",
        "Warum hat niemand die Tür hinter sich geschlossen?",
    ],
    "es": [
        "El autobús llega a la plaza cada quince minutos.",
        "Mi hermana estudia medicina en la universidad de Sevilla.",
        "Mañana por la tarde vamos a visitar a nuestros abuelos.",
        "¿Dónde puedo comprar un billete para el tren de las ocho?",
        "Los pescadores salieron al mar antes del amanecer.",
        "La biblioteca municipal cierra los domingos por la tarde.",
        "Hace mucho calor y todos buscan un poco de sombra.",
        "El equipo ganó el partido en el último minuto.",
        "Necesitamos más tiempo para terminar el proyecto.",
        "Ella cantó una canción antigua con una voz muy suave.",
    ],
    "fr": [
        "Le marché du samedi attire beaucoup de monde sur la place.",
        "Nous avons pris le train de nuit pour aller à Marseille.",
        "Il pleut depuis ce matin et les rues sont désertes.",
        "Pouvez-vous parler un peu plus lentement, s'il vous plaît ?",
        "Les élèves préparent une pièce de théâtre pour la fin de l'année.",
        "Mon voisin répare sa vieille voiture tous les week-ends.",
        "La boulangerie du coin vend le meilleur pain de la ville.",
        "Le musée sera fermé pendant les travaux de rénovation.",
        "Elle a oublié son parapluie dans le métro hier soir.",
        "Pourquoi les oiseaux chantent-ils si tôt le matin ?",
    ],
    "hi": [
        "आज सुबह से ही आसमान में बादल छाए हुए हैं।",
        "मेरे भाई ने कल नई साइकिल खरीदी।",
        "बच्चे स्कूल के मैदान में क्रिकेट खेल रहे हैं।",
        "कृपया मुझे रेलवे स्टेशन का रास्ता बताइए।",
        "किसान खेतों में गेहूं की फसल काट रहे हैं।",
        "शाम को हम सब मिलकर खाना खाते हैं।",
        "पुस्तकालय में बहुत सारी पुरानी किताबें रखी हैं।",
        "नदी के किनारे एक छोटा सा मंदिर है।",
        "डॉक्टर ने उसे आराम करने की सलाह दी।",
        "तुम इतनी देर से क्यों आए?",
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
