"""The letter's own words in English, Spanish and French (`triage` never reads the bot's catalogs).

`t(language, key)` for the letter's phrases, `answer_label(language, value)` for the triage contract's values
(symptoms, body sites, extents), `tier_name`/`tier_advice` for the tiers in plain words (CLINICAL.md, "patient is
told"), and `reason_words` for a rule's reason in plain words, by its family: they never name a diagnosis.
An unknown language falls back to English; `tests/letters/test_texts.py` checks every key has all three.
"""

from __future__ import annotations

LANGUAGES = ("en", "es", "fr")

# key: (en, es, fr)
_PHRASES: dict[str, tuple[str, str, str]] = {
    "title.referral": ("Dermatology referral", "Derivación a dermatología", "Lettre d'adressage en dermatologie"),
    "title.patient": ("Your skin check: a copy for you", "Su consulta de piel: una copia para usted",
                      "Votre examen de la peau : un exemplaire pour vous"),
    "case": ("Case", "Caso", "Dossier"),
    "date": ("Date", "Fecha", "Date"),
    "organisation": ("Organisation", "Organización", "Organisation"),
    "patient": ("Patient", "Paciente", "Patient"),
    "patient_ref": ("Reference (no name is kept)", "Referencia (no se guarda ningún nombre)",
                    "Référence (aucun nom n'est conservé)"),
    "age": ("Age", "Edad", "Âge"),
    "years": ("years", "años", "ans"),
    "language": ("Language", "Idioma", "Langue"),
    "urgency": ("How urgent", "Urgencia", "Degré d'urgence"),
    "tier_changed": ("Changed by the clinician from: {tier}", "Cambiado por el clínico desde: {tier}",
                     "Modifié par le clinicien, au lieu de : {tier}"),
    "why": ("Why", "Por qué", "Pourquoi"),
    "rule": ("rule", "regla", "règle"),
    "no_reasons": ("No reason was recorded.", "No se registró ningún motivo.", "Aucun motif n'a été enregistré."),
    "answers": ("What the patient told us", "Lo que nos dijo el paciente", "Ce que le patient nous a dit"),
    "answers.patient": ("What you told us", "Lo que nos dijo", "Ce que vous nous avez dit"),
    "no_answers": ("No answers were given.", "No se dieron respuestas.", "Aucune réponse n'a été donnée."),
    "q.body_sites": ("Where", "Dónde", "Où"),
    "q.duration": ("For how long", "Desde hace", "Depuis"),
    "days": ("{n} days", "{n} días", "{n} jours"),
    "q.extent": ("How much skin", "Cuánta piel", "Surface de peau"),
    "q.symptoms": ("Signs and symptoms", "Signos y síntomas", "Signes et symptômes"),
    "q.pregnant": ("Pregnant", "Embarazada", "Enceinte"),
    "q.immunosuppressed": ("Weakened immune system", "Defensas bajas", "Immunité affaiblie"),
    "q.diabetes": ("Diabetes", "Diabetes", "Diabète"),
    "yes": ("yes", "sí", "oui"),
    "no": ("no", "no", "non"),
    "own_words": ("In their own words", "Con sus propias palabras", "Avec ses propres mots"),
    "own_words.patient": ("In your own words", "Con sus propias palabras", "Avec vos propres mots"),
    "photos": ("Photos", "Fotos", "Photos"),
    "photo_n": ("Photo {n}", "Foto {n}", "Photo {n}"),
    "no_photos": ("No photo is kept.", "No se conserva ninguna foto.", "Aucune photo n'est conservée."),
    "photos_deleted": ("{n} photo(s) deleted after the retention period.",
                       "{n} foto(s) borrada(s) al terminar el plazo de conservación.",
                       "{n} photo(s) supprimée(s) à la fin de la durée de conservation."),
    "model": ("Image analysis", "Análisis de imagen", "Analyse d'image"),
    "model_none": ("The image analysis was not available: the case was triaged on the answers alone.",
                   "El análisis de imagen no estuvo disponible: el caso se clasificó solo con las respuestas.",
                   "L'analyse d'image n'était pas disponible : le dossier a été trié sur les seules réponses."),
    "diagnosis": ("Clinician's diagnosis", "Diagnóstico del clínico", "Diagnostic du clinicien"),
    "disposition": ("Outcome", "Resultado", "Suite donnée"),
    "note": ("Clinician's note", "Nota del clínico", "Note du clinicien"),
    "note.patient": ("Message from your clinician", "Mensaje de su clínico", "Message de votre clinicien"),
    "tier_reason": ("Reason for the change of urgency", "Motivo del cambio de urgencia",
                    "Motif du changement d'urgence"),
    "signed": ("Signed", "Firmado", "Signé"),
    "clinician": ("Clinician", "Clínico", "Clinicien"),
    "unsigned": ("Not yet reviewed by a clinician", "Aún no revisado por un clínico",
                 "Pas encore revu par un clinicien"),
    "disclaimer": (
        "This service sorts cases by urgency; it does not replace an examination. If things get worse, see a "
        "doctor or call your local emergency number.",
        "Este servicio ordena los casos por urgencia; no sustituye a una exploración. Si empeora, vea a un médico "
        "o llame a su número local de emergencias.",
        "Ce service trie les dossiers par urgence ; il ne remplace pas un examen. Si cela s'aggrave, consultez un "
        "médecin ou appelez le numéro d'urgence local.",
    ),
    "caption": ("A letter about your case #{case} from {clinician}.",
                "Una carta sobre su caso n.º {case} de {clinician}.",
                "Une lettre de {clinician} au sujet de votre dossier n° {case}."),
    "page": ("Page", "Página", "Page"),
}

_ANSWERS: dict[str, tuple[str, str, str]] = {
    "scalp": ("Scalp", "Cuero cabelludo", "Cuir chevelu"),
    "face": ("Face", "Cara", "Visage"),
    "near_eye": ("Near the eye", "Cerca del ojo", "Près de l'œil"),
    "lips_mouth": ("Lips or mouth", "Labios o boca", "Lèvres ou bouche"),
    "ears": ("Ears", "Orejas", "Oreilles"),
    "neck": ("Neck", "Cuello", "Cou"),
    "chest": ("Chest", "Pecho", "Poitrine"),
    "abdomen": ("Belly", "Vientre", "Ventre"),
    "back": ("Back", "Espalda", "Dos"),
    "arms": ("Arms", "Brazos", "Bras"),
    "hands": ("Hands", "Manos", "Mains"),
    "legs": ("Legs", "Piernas", "Jambes"),
    "feet": ("Feet", "Pies", "Pieds"),
    "genitals": ("Genitals", "Genitales", "Parties génitales"),
    "buttocks": ("Buttocks", "Nalgas", "Fesses"),
    "nails": ("Nails", "Uñas", "Ongles"),
    "single_spot": ("One spot", "Una mancha", "Une seule tache"),
    "small_area": ("A small area (smaller than a hand)", "Una zona pequeña (menor que una mano)",
                   "Une petite zone (plus petite qu'une main)"),
    "large_area": ("A large area", "Una zona grande", "Une grande zone"),
    "most_of_body": ("Most of the body", "Casi todo el cuerpo", "La plus grande partie du corps"),
    "itch": ("Itch", "Picor", "Démangeaisons"),
    "pain": ("Pain", "Dolor", "Douleur"),
    "severe_pain": ("Severe pain", "Dolor intenso", "Douleur intense"),
    "bleeding": ("Bleeding", "Sangrado", "Saignement"),
    "oozing": ("Oozing or crusting", "Supura o tiene costras", "Suintement ou croûtes"),
    "inflammation": ("Red, swollen or hot", "Rojo, hinchado o caliente", "Rouge, gonflé ou chaud"),
    "blisters": ("Blisters", "Ampollas", "Cloques"),
    "skin_peeling": ("Skin peeling off", "La piel se desprende", "La peau se détache"),
    "mucosal_involvement": ("Sores in mouth, eyes or genitals", "Llagas en boca, ojos o genitales",
                            "Plaies dans la bouche, les yeux ou les parties génitales"),
    "non_blanching_rash": ("Spots that do not fade when pressed with a glass",
                           "Manchas que no desaparecen al presionar con un vaso",
                           "Taches qui ne s'effacent pas sous un verre"),
    "swelling_face_lips_tongue": ("Swelling of face, lips or tongue", "Hinchazón de cara, labios o lengua",
                                  "Gonflement du visage, des lèvres ou de la langue"),
    "difficulty_breathing": ("Difficulty breathing", "Dificultad para respirar", "Difficulté à respirer"),
    "fever": ("Fever", "Fiebre", "Fièvre"),
    "feeling_very_unwell": ("Feeling very unwell", "Sentirse muy mal", "Se sentir très mal"),
    "rapidly_spreading": ("Spreading fast", "Se extiende rápido", "S'étend vite"),
    "new_medication": ("Started a new medicine recently", "Empezó un medicamento nuevo",
                       "Nouveau médicament récemment"),
    "non_healing": ("A sore that won't heal (4+ weeks)", "Una herida que no cura (4+ semanas)",
                    "Une plaie qui ne guérit pas (4+ semaines)"),
    "changing_size": ("Getting bigger", "Está creciendo", "Grandit"),
    "changing_shape": ("Irregular or changing shape", "Forma irregular o cambiante", "Forme irrégulière ou qui change"),
    "changing_colour": ("Irregular or changing colour", "Color irregular o cambiante",
                        "Couleur irrégulière ou qui change"),
    "diameter_7mm_or_more": ("7 mm or wider", "7 mm o más", "7 mm ou plus"),
    "change_in_sensation": ("Itches or feels different", "Pica o se siente distinto",
                            "Démange ou sensation différente"),
}

_TIER_NAMES: dict[str, tuple[str, str, str]] = {
    "emergency": ("Emergency", "Emergencia", "Urgence vitale"),
    "urgent": ("Urgent", "Urgente", "Urgent"),
    "soon": ("Soon (within 2 weeks)", "Pronto (en 2 semanas)", "Bientôt (sous 2 semaines)"),
    "routine": ("Routine", "Rutina", "Consultation normale"),
    "self_care": ("Self-care", "Autocuidado", "Soins à domicile"),
}

_TIER_ADVICE: dict[str, tuple[str, str, str]] = {
    "emergency": ("Call your local emergency number or go to the emergency department now.",
                  "Llame a su número local de emergencias o vaya a urgencias ahora.",
                  "Appelez le numéro d'urgence local ou allez aux urgences maintenant."),
    "urgent": ("See a doctor today or tomorrow (within 48 hours).", "Vea a un médico hoy o mañana (en 48 horas).",
               "Consultez un médecin aujourd'hui ou demain (sous 48 heures)."),
    "soon": ("Book an appointment within 2 weeks.", "Pida una cita en las próximas 2 semanas.",
             "Prenez rendez-vous dans les 2 semaines."),
    "routine": ("Book a routine appointment in the next few weeks; meanwhile keep the area clean.",
                "Pida una cita normal en las próximas semanas; mientras tanto, mantenga la zona limpia.",
                "Prenez un rendez-vous dans les prochaines semaines ; en attendant, gardez la zone propre."),
    "self_care": ("This looks low risk. A pharmacist can advise. See a doctor if it gets worse, spreads, bleeds, "
                  "or is not better in 2 weeks.",
                  "Parece de bajo riesgo. En la farmacia pueden aconsejarle. Vea a un médico si empeora, se "
                  "extiende, sangra o no mejora en 2 semanas.",
                  "Cela semble peu grave. Un pharmacien peut vous conseiller. Consultez si cela s'aggrave, s'étend, "
                  "saigne ou ne va pas mieux en 2 semaines."),
}

# A reason's family (the first part of its rule code) in plain words.
_REASONS: dict[str, tuple[str, str, str]] = {
    "red_flag": ("Some of the signs described can be serious and need a doctor quickly.",
                 "Algunos de los signos descritos pueden ser graves y necesitan un médico pronto.",
                 "Certains des signes décrits peuvent être graves et demandent un médecin rapidement."),
    "checklist": ("The spot has changed (size, shape or colour): a doctor should look at it.",
                  "La mancha ha cambiado (tamaño, forma o color): debe verla un médico.",
                  "La tache a changé (taille, forme ou couleur) : un médecin doit la voir."),
    "modifier": ("Your health situation means this needs a quicker look.",
                 "Su situación de salud hace que esto deba verse antes.",
                 "Votre état de santé demande que cela soit vu plus vite."),
    "lesion": ("A doctor should confirm that the spot is harmless.",
               "Un médico debe confirmar que la mancha no es peligrosa.",
               "Un médecin doit confirmer que la tache est sans danger."),
    "model": ("The photos or the automatic analysis left some doubt, so a clinician looks at the case.",
              "Las fotos o el análisis automático dejaron dudas, así que un clínico revisa el caso.",
              "Les photos ou l'analyse automatique laissent un doute : un clinicien examine le dossier."),
    "freetext": ("Something in the patient's own words needs attention.",
                 "Algo de lo que escribió el paciente requiere atención.",
                 "Quelque chose dans les mots du patient demande de l'attention."),
}
_REASON_OTHER = ("The triage rules asked for this level of care.",
                 "Las reglas de clasificación pidieron este nivel de atención.",
                 "Les règles de tri ont demandé ce niveau de soins.")

_DISPOSITIONS: dict[str, tuple[str, str, str]] = {
    "seen_in_clinic": ("Seen in clinic", "Atendido en consulta", "Vu en consultation"),
    "referred": ("Referred", "Derivado", "Adressé à un spécialiste"),
    "advice_given": ("Advice given", "Se dieron consejos", "Conseils donnés"),
    "no_action": ("No action needed", "No hace falta hacer nada", "Aucune action nécessaire"),
}

TABLES = {"phrases": _PHRASES, "answers": _ANSWERS, "tiers": _TIER_NAMES, "advice": _TIER_ADVICE,
          "reasons": _REASONS, "dispositions": _DISPOSITIONS}


def language_of(code: str | None) -> str:
    """A language the letter speaks: `code` if it is one, else English."""
    return code if code in LANGUAGES else "en"


def _pick(row: tuple[str, str, str], language: str) -> str:
    return row[LANGUAGES.index(language_of(language))]


def t(language: str, key: str, **values: object) -> str:
    """The phrase `key` in `language`, with `{name}` placeholders filled. Raises KeyError for an unknown key."""
    text = _pick(_PHRASES[key], language)
    return text.format(**values) if values else text


def answer_label(language: str, value: str) -> str:
    """A symptom, body site or extent in plain words; an unknown value as itself, underscores as spaces."""
    row = _ANSWERS.get(value)
    return _pick(row, language) if row else value.replace("_", " ")


def tier_name(language: str, tier: str) -> str:
    row = _TIER_NAMES.get(tier)
    return _pick(row, language) if row else tier


def tier_advice(language: str, tier: str) -> str:
    row = _TIER_ADVICE.get(tier)
    return _pick(row, language) if row else ""


def reason_words(language: str, code: str) -> str:
    """A rule's reason (by its code, e.g. `red_flag.fever_non_blanching_rash`) in plain words for anyone."""
    return _pick(_REASONS.get(code.split(".", 1)[0], _REASON_OTHER), language)


def disposition_name(language: str, disposition: str) -> str:
    row = _DISPOSITIONS.get(disposition)
    return _pick(row, language) if row else disposition.replace("_", " ")
