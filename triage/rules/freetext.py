"""Red flags in the patient's own words, in English, Spanish and French.

Phrases are plain words a clinician can review. Matching ignores case, accents and punctuation
(``"Je n'arrive pas à respirer"`` matches ``n'arrive pas a respirer``); a word ending in ``*`` matches any
word starting with it (``blister*`` matches "blistering"). A phrase matches when its words appear together,
in order, anywhere in the text.

The words only ever add symptoms: they can raise the tier, never lower it, and nothing in them is read as an
instruction. Negation is deliberately not handled ("no fever" still flags fever): a false alarm sends the case
up, which is safe; a missed red flag is not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

Phrases = Mapping[str, str]  # language -> phrases separated by ";"

SYMPTOM_PHRASES: dict[str, Phrases] = {
    "difficulty_breathing": {
        "en": (
            "can't breathe; cant breathe; cannot breathe; can not breathe; couldn't breathe; unable to breathe; "
            "hard to breathe; struggling to breathe; difficulty breathing; trouble breathing; breathing "
            "difficult*; short of breath; shortness of breath; breathless*; wheez*; throat is closing; throat "
            "closing; throat tight*; choking"
        ),
        "es": (
            "no puedo respirar; no puede respirar; dificultad para respirar; dificultad al respirar; me cuesta "
            "respirar; le cuesta respirar; falta de aire; me falta el aire; me ahogo; ahogando*; se me cierra la "
            "garganta"
        ),
        "fr": (
            "n'arrive pas a respirer; n'arrive plus a respirer; ne peux pas respirer; ne peut pas respirer; ne "
            "peux plus respirer; mal a respirer; difficulte a respirer; difficultes a respirer; essouffl*; "
            "j'etouffe; etouffe; souffle court; gorge serree"
        ),
    },
    "swelling_face_lips_tongue": {
        "en": (
            "lip* swell*; lip* swollen; lip* are swell*; lip* are swollen; lip* is swell*; lip* is swollen; "
            "swollen lip*; swollen tongue; tongue swell*; tongue is swell*; tongue is swollen; swollen face; face "
            "swell*; face is swell*; face is swollen; facial swelling; swelling of the face; swelling of my face; "
            "swelling of the lips; swelling of my lips; swelling of the tongue; swollen eyelid*; swollen throat; "
            "throat swell*; angioedema"
        ),
        "es": (
            "labios hinchad*; labio hinchad*; lengua hinchad*; cara hinchad*; hinchazon de labios; hinchazon de "
            "la cara; hinchazon de la lengua; se me hinchan los labios; se me hincha la cara; se me hincha la "
            "lengua; garganta hinchad*; angioedema"
        ),
        "fr": (
            "levres gonfl*; levre gonfl*; levres enfl*; langue gonfl*; langue enfl*; visage gonfl*; visage enfl*; "
            "gonflement des levres; gonflement du visage; gonflement de la langue; gorge gonfl*; oedeme; "
            "angioedeme; angio oedeme"
        ),
    },
    "non_blanching_rash": {
        "en": (
            "don't fade; doesn't fade; dont fade; doesnt fade; do not fade; does not fade; didn't fade; not "
            "fading; won't fade; doesn't blanch; does not blanch; don't blanch; non blanching; nonblanching; "
            "glass test; tumbler test; under a glass; under the glass; with a glass; pressed a glass; press a "
            "glass; petechia*; purpura"
        ),
        "es": (
            "no desaparece* al presionar; no desaparece* al apretar; no se quita* al presionar; no se borra* al "
            "presionar; no palidece*; prueba del vaso; con un vaso; bajo un vaso; petequia*; purpura"
        ),
        "fr": (
            "ne disparai* pas a la pression; ne disparai* pas quand on appuie; ne disparai* pas sous; ne "
            "s'efface* pas sous; ne s'efface* pas a la pression; ne pali* pas; test du verre; sous un verre; avec "
            "un verre; petechie*; purpura"
        ),
    },
    "skin_peeling": {
        "en": (
            "peel*; skin coming off; skin is coming off; skin falling off; skin came off; skin comes off; "
            "sloughing; shedding skin; skin shedding"
        ),
        "es": (
            "se me cae la piel; piel se cae; piel se desprende; piel se despega; piel se pela; me estoy pelando; "
            "se esta pelando; despellej*; descamac*; descama*"
        ),
        "fr": (
            "peau qui pele; peau pele; la peau part; peau qui part; peau se decolle; peau qui se decolle; peau "
            "tombe; peau qui tombe; desquam*; pele; pelent"
        ),
    },
    "blisters": {
        "en": "blister*; bullae; bulla; vesicle*",
        "es": "ampolla*; vesicula*; flictena*",
        "fr": "cloque*; ampoule*; bulle*; vesicule*; phlyctene*",
    },
    "mucosal_involvement": {
        "en": (
            "sores in my mouth; sores in the mouth; sores in his mouth; sores in her mouth; mouth sore*; mouth "
            "ulcer*; ulcers in my mouth; ulcers in the mouth; blisters in my mouth; blisters in the mouth; sore "
            "eyes; red eyes; eyes are red; eyes are sore; gritty eyes; genital sore*; genital ulcer*; genital "
            "blister*; sores on my genitals; can't swallow; cannot swallow; can't eat; painful to swallow"
        ),
        "es": (
            "llagas en la boca; llaga en la boca; ulceras en la boca; aftas; ampollas en la boca; ojos rojos; "
            "ojos irritados; llagas en los genitales; ulceras genitales; no puedo tragar; no puedo comer"
        ),
        "fr": (
            "plaies dans la bouche; aphte*; ulceres dans la bouche; cloques dans la bouche; bulles dans la "
            "bouche; yeux rouges; yeux irrites; plaies genitales; ulceres genitaux; ne peux pas avaler; n'arrive "
            "pas a avaler; ne peux pas manger"
        ),
    },
    "fever": {
        "en": "fever*; high temperature; temperature; feverish; chills; shivering; rigors",
        "es": "fiebre; calentura; temperatura alta; escalofrio*; febril",
        "fr": "fievre; fievreux; fievreuse; temperature; frissons",
    },
    "feeling_very_unwell": {
        "en": (
            "very unwell; very ill; very sick; really unwell; really ill; seriously ill; unwell; feel awful; feel "
            "terrible; feeling awful; feeling terrible; confused; confusion; drowsy; hard to wake; fainted; "
            "fainting; feel faint; feeling faint; passed out; collaps*; vomit*; dizzy"
        ),
        "es": (
            "muy mal; muy enferm*; me siento fatal; me encuentro fatal; confundid*; confusion; somnolient*; "
            "desmay*; vomit*; mareado; mareada"
        ),
        "fr": (
            "tres malade; me sens tres mal; me sens mal; je me sens vraiment mal; confus; confuse; somnolent*; "
            "evanoui*; malaise; vomi*"
        ),
    },
    "severe_pain": {
        "en": (
            "severe pain; extreme pain; excruciating; unbearable; agonising; agonizing; terrible pain; intense "
            "pain; awful pain; worst pain; really painful; very painful; extremely painful; hurts so much; hurts "
            "a lot"
        ),
        "es": (
            "dolor intenso; dolor muy intenso; dolor fuerte; dolor muy fuerte; dolor severo; dolor insoportable; "
            "dolor terrible; dolor horrible; mucho dolor; muchisimo dolor; me duele mucho; me duele muchisimo; "
            "muy doloros*"
        ),
        "fr": (
            "douleur intense; douleur forte; douleur tres forte; douleur severe; douleur insupportable; douleur "
            "atroce; douleur terrible; tres douloureu*; extremement douloureu*; fait tres mal; fait horriblement "
            "mal"
        ),
    },
    "pain": {
        "en": "pain*; hurt*; sore; ache*; aching; tender",
        "es": "dolor*; duele*; doloros*",
        "fr": "douleur*; douloureu*; fait mal; j'ai mal",
    },
    "rapidly_spreading": {
        "en": (
            "spread*; getting bigger fast; getting bigger quickly; growing fast; growing quickly; bigger by the "
            "hour; moving up my; tracking up"
        ),
        "es": (
            "se extiende; se esta extendiendo; extendiendo*; se propaga; propagando*; se expande; crece rapido; "
            "crece muy rapido"
        ),
        "fr": "s'etend; s'etale; se propage; se repand; grandit vite; grandit rapidement; s'agrandit vite",
    },
    "new_medication": {
        "en": (
            "new medicine; new medication; new drug; new tablet*; new pill*; started taking; antibiotic*; "
            "allopurinol; lamotrigine; carbamazepine; phenytoin; sulfa*; co trimoxazole; nevirapine"
        ),
        "es": (
            "medicamento nuevo; nuevo medicamento; medicina nueva; nueva medicina; pastilla nueva; nueva "
            "pastilla; empece a tomar; empezo a tomar; antibiotico*; alopurinol; lamotrigina; carbamazepina; "
            "fenitoina"
        ),
        "fr": (
            "nouveau medicament; nouveau traitement; nouvel antibiotique; commence a prendre; commence un "
            "traitement; antibiotique*; allopurinol; lamotrigine; carbamazepine; phenytoine"
        ),
    },
    "near_eye": {
        "en": (
            "near my eye; near the eye; near his eye; near her eye; around my eye*; around the eye*; next to my "
            "eye; above my eye; below my eye; under my eye; eyelid*; on my eye"
        ),
        "es": (
            "cerca del ojo; cerca de los ojos; cerca de mi ojo; alrededor del ojo; alrededor de los ojos; junto "
            "al ojo; encima del ojo; debajo del ojo; parpado*"
        ),
        "fr": (
            "pres de l'oeil; pres des yeux; pres de mon oeil; autour de l'oeil; autour des yeux; a cote de "
            "l'oeil; au dessus de l'oeil; sous l'oeil; paupiere*"
        ),
    },
    "non_healing": {
        "en": (
            "won't heal; wont heal; doesn't heal; does not heal; not healing; isn't healing; never heals; hasn't "
            "healed; has not healed; non healing"
        ),
        "es": "no se cura; no cura; no sana; no cicatriza; no se ha curado; no ha sanado; no ha cicatrizado",
        "fr": "ne guerit pas; ne cicatrise pas; ne se referme pas; jamais gueri; pas gueri; pas cicatrise",
    },
    "bleeding": {
        "en": "bleed*; bled; bloody; blood on; blood in; blood coming; covered in blood",
        "es": "sangr*",
        "fr": "saign*; sang",
    },
    "oozing": {
        "en": "ooz*; weep*; pus; discharge*; leaking",
        "es": "supura*; pus; exuda*; secrecion",
        "fr": "suinte*; suintant*; pus; suppure*; coule",
    },
    "inflammation": {
        "en": "inflam*; swollen and red; red and swollen; hot and red; red and hot",
        "es": "inflamad*; inflamacion; rojo e hinchado; roja e hinchada",
        "fr": "inflamm*; enflamm*; rouge et gonfle*",
    },
    "itch": {
        "en": "itch*",
        "es": "pica; picor*; picazon; comezon; me pica",
        "fr": "demange*; prurit; ca gratte; gratte",
    },
    "changing_size": {
        "en": (
            "getting bigger; got bigger; has grown; it's grown; grown bigger; grown larger; is growing; keeps "
            "growing; getting larger; changed size; changing size; changed in size; increased in size"
        ),
        "es": "crece; creciendo; ha crecido; mas grande; aumentado de tamano; cambiado de tamano",
        "fr": "grossi*; grandi*; plus gros; plus grand; change de taille",
    },
    "changing_shape": {
        "en": (
            "changed shape; changing shape; changed its shape; irregular shape; odd shape; strange shape; weird "
            "shape; shape has changed; ragged edge*; irregular edge*"
        ),
        "es": "cambiado de forma; cambia de forma; forma irregular; forma rara; forma extrana; bordes irregulares",
        "fr": "change de forme; forme irreguliere; forme bizarre; forme etrange; bords irreguliers",
    },
    "changing_colour": {
        "en": (
            "changed colour; changed color; changing colour; changing color; different colours; different colors; "
            "several colours; several colors; uneven colour; uneven color; irregular colour; irregular color; "
            "getting darker; gone darker; turned black; gone black; going black"
        ),
        "es": (
            "cambiado de color; cambia de color; color irregular; varios colores; mas oscur*; se ha puesto negro; "
            "se ha oscurecido"
        ),
        "fr": "change de couleur; couleur irreguliere; plusieurs couleurs; plus fonce*; devenu noir; noirci*",
    },
    "diameter_7mm_or_more": {
        "en": "bigger than a pencil eraser; 7mm; 8mm; 9mm; 10mm; 7 mm; 8 mm; 9 mm; 10 mm; 1 cm; 2 cm; 1cm; 2cm",
        "es": "mas grande que una goma de lapiz",
        "fr": "plus grand qu'une gomme",
    },
    "change_in_sensation": {
        "en": "tingl*; numb*; mole itches; mole is itchy; itchy mole",
        "es": "hormigueo; entumec*; lunar me pica; lunar que pica",
        "fr": "picotement*; fourmillement*; engourdi*; grain de beaute qui gratte; grain de beaute me demange",
    },
}
"""Symptom key -> phrases, per language."""

FEATURE_PHRASES: dict[str, Phrases] = {
    "mole": {
        "en": "mole; moles; birthmark*; freckle*",
        "es": "lunar*; peca*",
        "fr": "grain de beaute; grains de beaute; naevus; nevus",
    },
    "acne_scarring_or_nodular": {
        "en": "scar*; nodul*; cyst*; lumps under the skin; deep spots; deep painful spots",
        "es": "cicatri*; nodul*; quiste*",
        "fr": "cicatri*; nodul*; kyste*",
    },
    "foot": {
        "en": "foot; feet; toe*; heel*; sole",
        "es": "pie; pies; dedo del pie; talon; planta del pie",
        "fr": "pied; pieds; orteil*; talon",
    },
    "wound": {
        "en": "wound*; ulcer*; sore; sores; cut; cuts; open skin; hole in",
        "es": "herida*; ulcera*; llaga*; corte",
        "fr": "plaie*; ulcere*; blessure*; coupure*",
    },
}
"""Other facts the rules read from the patient's words: a mole, acne scarring or nodules, a foot wound."""

_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Return ``text`` case-folded, without accents or punctuation, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", stripped).split())


def split(phrases: str) -> tuple[str, ...]:
    """Return the phrases of a ``"phrase; phrase"`` list."""
    return tuple(phrase.strip() for phrase in phrases.split(";") if phrase.strip())


_PREFIX_INDEX = 3  # a word* prefix must have at least this many letters; prefixes are indexed by them


@dataclass
class _Node:
    """One word position in the phrase tree: the words that may follow, and the keys of phrases ending here."""

    exact: dict[str, _Node] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[str, _Node]]] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)

    def child(self, word: str) -> _Node:
        if not word.endswith("*"):
            return self.exact.setdefault(word, _Node())
        prefix = word[:-1]
        if len(prefix) < _PREFIX_INDEX:
            raise ValueError(f"phrase word {word!r} is too short for a prefix (at least {_PREFIX_INDEX} letters)")
        bucket = self.prefixes.setdefault(prefix[:_PREFIX_INDEX], [])
        for known, node in bucket:
            if known == prefix:
                return node
        bucket.append((prefix, _Node()))
        return bucket[-1][1]

    def next(self, word: str) -> list[_Node]:
        found = [self.exact[word]] if word in self.exact else []
        found += [node for prefix, node in self.prefixes.get(word[:_PREFIX_INDEX], ()) if word.startswith(prefix)]
        return found


def _phrase_words(phrase: str) -> list[str]:
    """Return the normalised words of ``phrase``, the last part of a ``word*`` keeping its star."""
    words: list[str] = []
    for word in phrase.split():
        parts = normalise(word.rstrip("*")).split()  # "can't" normalises to two words: "can t"
        words += [*parts[:-1], parts[-1] + "*" if word.endswith("*") else parts[-1]]
    return words


@cache
def _phrase_tree() -> _Node:
    root = _Node()
    for table in (SYMPTOM_PHRASES, FEATURE_PHRASES):
        for key, by_language in table.items():
            for phrases in by_language.values():
                for phrase in split(phrases):
                    node = root
                    for word in _phrase_words(phrase):
                        node = node.child(word)
                    node.keys.add(key)
    return root


def recognise(text: str) -> frozenset[str]:
    """Return the keys of every phrase (symptom or other fact) found in ``text``."""
    words = normalise(text).split()
    root = _phrase_tree()
    found: set[str] = set()
    for start in range(len(words)):
        nodes = [root]
        for word in words[start:]:
            nodes = [following for node in nodes for following in node.next(word)]
            if not nodes:
                break
            for node in nodes:
                found |= node.keys
    return frozenset(found)


def free_text_flags(text: str) -> frozenset[str]:
    """Return the symptom keys (of the contract's vocabulary) recognised in the patient's words."""
    return recognise(text).intersection(SYMPTOM_PHRASES)


def text_features(text: str) -> frozenset[str]:
    """Return the other facts (keys of FEATURE_PHRASES) recognised in the patient's words."""
    return recognise(text).intersection(FEATURE_PHRASES)
