"""Everything the bot says, in every language it speaks. `tests/test_texts.py` checks every catalog is complete.

Messages are short, plain, and say what to do next; HTML parse mode (only <b> and <i>).
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "es", "fr")
DEFAULT_LANGUAGE = "en"

CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "delete_confirm": "Delete <b>everything</b> we store about you: photos, answers, replies? This cannot be undone.",
        "delete_yes": "Yes, delete everything",
        "delete_no": "No, keep it",
        "deleted": "Done. All your photos, answers and replies have been deleted.",
        "delete_kept": "Nothing was deleted.",
        "nothing_to_delete": "We store nothing about you.",
        "consent": (
            "<b>Skin check</b>\n"
            "Send photos of a skin problem and answer a few questions; we tell you how urgently to see a doctor.\n\n"
            "<b>Before we start</b>\n"
            "• This is <b>not a diagnosis</b>. It helps you decide how soon to get care.\n"
            "• We store your photos (encrypted), your answers and our reply for {days} days, then delete the photos. "
            "Dermatologists of this service may see your case. Send /delete at any time to erase everything.\n"
            "• <b>In an emergency, call your local emergency number now.</b>\n\n"
            "Do you agree?"
        ),
        "consent_yes": "I agree",
        "consent_no": "No, thanks",
        "declined": "Understood. Nothing has been stored. If you change your mind, send /start.",
        "ask_photo": (
            "Thank you. Please send <b>one clear photo</b> of the skin problem, in daylight, in focus, from about "
            "10 cm away.\nIn the caption, say what worries you, how long it has been there, and any symptoms "
            "(itch, pain, fever, bleeding...)."
        ),
        "need_consent": "Please send /start first and accept the privacy notice.",
        "need_photo": "Please send a photo of the skin problem (as a photo or an image file).",
        "analysing": "Thank you. Your photo is being analysed; the answer usually comes within a few minutes.",
        "waiting": "Your case is still being analysed. You will get the answer here.",
        "photo_too_large": "That file is too large (limit {mb} MB). Please send it as a photo, not as a file.",
        "photo_unreadable": "We could not read that image. Please send a JPEG, PNG or WebP photo.",
        "photo_too_many_pixels": "That image is too large to process. Please send a normal phone photo.",
        "photo_download_failed": "We could not download that photo. Please send it again.",
        "cancelled": "Cancelled. Send /start to begin again.",
        "help": "Send /start to begin a skin check, /cancel to stop. "
        "In an emergency, call your local emergency number.",
        "error": "Sorry, something went wrong on our side. Your data is safe. Please try again in a minute.",
        "tier.emergency": "🚨 <b>EMERGENCY</b>\nCall your local emergency number or go to the emergency department "
        "<b>now</b>. Do not wait for a reply here.",
        "tier.urgent": "⚠️ <b>Urgent</b>\nSee a doctor <b>today or tomorrow</b> (within 48 hours).",
        "tier.soon": "<b>See a doctor soon</b>\nBook an appointment <b>within 2 weeks</b>.",
        "tier.routine": "<b>Routine</b>\nBook a routine appointment with a doctor in the next few weeks. "
        "Meanwhile, keep the area clean and avoid scratching.",
        "tier.self_care": "<b>Self-care</b>\nThis looks low risk. A pharmacist can advise on treatment. See a doctor "
        "if it gets worse, spreads, bleeds, or is not better in 2 weeks.",
        "why": "<b>Why:</b> {reasons}",
        "findings": "<b>What the photo shows (automated, may be wrong):</b> {findings}",
        "possible": "<b>Possible causes to discuss with a doctor:</b> {conditions}",
        "forwarded": "A dermatologist of this service will look at your case and reply here.",
        "no_model": "Our image analysis was not available, so this advice is based on your answers only. "
        "A clinician will review your photo.",
        "disclaimer": "<i>This is not a diagnosis. If you feel worse or are worried, seek medical care.</i>",
    },
    "es": {
        "delete_confirm": "¿Borrar <b>todo</b> lo que guardamos sobre usted: fotos, respuestas, mensajes? No se puede deshacer.",
        "delete_yes": "Sí, borrar todo",
        "delete_no": "No, conservar",
        "deleted": "Hecho. Se han borrado todas sus fotos, respuestas y mensajes.",
        "delete_kept": "No se ha borrado nada.",
        "nothing_to_delete": "No guardamos nada sobre usted.",
        "consent": (
            "<b>Revisión de la piel</b>\n"
            "Envíe fotos de un problema de la piel y responda unas preguntas; le diremos con qué urgencia ver a un "
            "médico.\n\n"
            "<b>Antes de empezar</b>\n"
            "• Esto <b>no es un diagnóstico</b>. Le ayuda a decidir cuándo buscar atención.\n"
            "• Guardamos sus fotos (cifradas), sus respuestas y nuestra respuesta durante {days} días; luego borramos "
            "las fotos. Los dermatólogos de este servicio pueden ver su caso. Envíe /delete para borrarlo todo.\n"
            "• <b>En una emergencia, llame ahora a su número local de emergencias.</b>\n\n"
            "¿Está de acuerdo?"
        ),
        "consent_yes": "Acepto",
        "consent_no": "No, gracias",
        "declined": "Entendido. No se ha guardado nada. Si cambia de opinión, envíe /start.",
        "ask_photo": (
            "Gracias. Envíe <b>una foto nítida</b> del problema de la piel, con luz de día, enfocada, a unos 10 cm."
            "\nEn el texto de la foto, diga qué le preocupa, desde cuándo y qué síntomas tiene (picor, dolor, "
            "fiebre, sangrado...)."
        ),
        "need_consent": "Envíe /start primero y acepte el aviso de privacidad.",
        "need_photo": "Envíe una foto del problema de la piel (como foto o como archivo de imagen).",
        "analysing": "Gracias. Estamos analizando su foto; la respuesta suele llegar en unos minutos.",
        "waiting": "Su caso se está analizando todavía. Recibirá la respuesta aquí.",
        "photo_too_large": "El archivo es demasiado grande (límite {mb} MB). Envíelo como foto, no como archivo.",
        "photo_unreadable": "No pudimos leer la imagen. Envíe una foto JPEG, PNG o WebP.",
        "photo_too_many_pixels": "La imagen es demasiado grande. Envíe una foto normal del teléfono.",
        "photo_download_failed": "No pudimos descargar la foto. Envíela de nuevo.",
        "cancelled": "Cancelado. Envíe /start para empezar de nuevo.",
        "help": "Envíe /start para empezar, /cancel para parar. En una emergencia, llame a su número local de "
        "emergencias.",
        "error": "Lo sentimos, algo falló de nuestro lado. Sus datos están seguros. Inténtelo de nuevo en un minuto.",
        "tier.emergency": "🚨 <b>EMERGENCIA</b>\nLlame a su número local de emergencias o vaya a urgencias "
        "<b>ahora</b>. No espere una respuesta aquí.",
        "tier.urgent": "⚠️ <b>Urgente</b>\nVea a un médico <b>hoy o mañana</b> (en 48 horas).",
        "tier.soon": "<b>Vea a un médico pronto</b>\nPida una cita <b>en las próximas 2 semanas</b>.",
        "tier.routine": "<b>Rutina</b>\nPida una cita normal con un médico en las próximas semanas. Mientras tanto, "
        "mantenga la zona limpia y evite rascarse.",
        "tier.self_care": "<b>Autocuidado</b>\nParece de bajo riesgo. En la farmacia pueden aconsejarle. Vea a un "
        "médico si empeora, se extiende, sangra o no mejora en 2 semanas.",
        "why": "<b>Motivo:</b> {reasons}",
        "findings": "<b>Lo que muestra la foto (automático, puede equivocarse):</b> {findings}",
        "possible": "<b>Posibles causas para hablar con un médico:</b> {conditions}",
        "forwarded": "Un dermatólogo de este servicio revisará su caso y le responderá aquí.",
        "no_model": "El análisis de imágenes no estaba disponible; este consejo se basa solo en sus respuestas. "
        "Un profesional revisará su foto.",
        "disclaimer": "<i>Esto no es un diagnóstico. Si empeora o le preocupa, busque atención médica.</i>",
    },
    "fr": {
        "delete_confirm": "Supprimer <b>tout</b> ce que nous conservons sur vous : photos, réponses, messages ? C'est définitif.",
        "delete_yes": "Oui, tout supprimer",
        "delete_no": "Non, garder",
        "deleted": "C'est fait. Toutes vos photos, réponses et messages ont été supprimés.",
        "delete_kept": "Rien n'a été supprimé.",
        "nothing_to_delete": "Nous ne conservons rien sur vous.",
        "consent": (
            "<b>Examen de la peau</b>\n"
            "Envoyez des photos d'un problème de peau et répondez à quelques questions ; nous vous dirons à quel "
            "point il est urgent de voir un médecin.\n\n"
            "<b>Avant de commencer</b>\n"
            "• Ceci <b>n'est pas un diagnostic</b>. Cela vous aide à décider quand consulter.\n"
            "• Nous conservons vos photos (chiffrées), vos réponses et notre réponse pendant {days} jours, puis "
            "nous supprimons les photos. Les dermatologues de ce service peuvent voir votre dossier. Envoyez "
            "/delete pour tout effacer.\n"
            "• <b>En cas d'urgence, appelez maintenant le numéro d'urgence local.</b>\n\n"
            "Êtes-vous d'accord ?"
        ),
        "consent_yes": "J'accepte",
        "consent_no": "Non, merci",
        "declined": "Compris. Rien n'a été enregistré. Si vous changez d'avis, envoyez /start.",
        "ask_photo": (
            "Merci. Envoyez <b>une photo nette</b> du problème de peau, à la lumière du jour, à environ 10 cm.\n"
            "Dans la légende, dites ce qui vous inquiète, depuis quand, et vos symptômes (démangeaisons, douleur, "
            "fièvre, saignement...)."
        ),
        "need_consent": "Envoyez d'abord /start et acceptez la notice de confidentialité.",
        "need_photo": "Envoyez une photo du problème de peau (en photo ou en fichier image).",
        "analysing": "Merci. Votre photo est en cours d'analyse ; la réponse arrive en général en quelques minutes.",
        "waiting": "Votre dossier est encore en cours d'analyse. Vous recevrez la réponse ici.",
        "photo_too_large": "Ce fichier est trop volumineux (limite {mb} Mo). Envoyez-le comme photo, pas comme "
        "fichier.",
        "photo_unreadable": "Nous n'avons pas pu lire cette image. Envoyez une photo JPEG, PNG ou WebP.",
        "photo_too_many_pixels": "Cette image est trop grande. Envoyez une photo normale de téléphone.",
        "photo_download_failed": "Nous n'avons pas pu télécharger cette photo. Envoyez-la à nouveau.",
        "cancelled": "Annulé. Envoyez /start pour recommencer.",
        "help": "Envoyez /start pour commencer, /cancel pour arrêter. En cas d'urgence, appelez le numéro "
        "d'urgence local.",
        "error": "Désolé, une erreur s'est produite de notre côté. Vos données sont en sécurité. Réessayez dans une "
        "minute.",
        "tier.emergency": "🚨 <b>URGENCE VITALE</b>\nAppelez le numéro d'urgence local ou allez aux urgences "
        "<b>maintenant</b>. N'attendez pas de réponse ici.",
        "tier.urgent": "⚠️ <b>Urgent</b>\nConsultez un médecin <b>aujourd'hui ou demain</b> (sous 48 heures).",
        "tier.soon": "<b>Consultez bientôt</b>\nPrenez rendez-vous <b>dans les 2 semaines</b>.",
        "tier.routine": "<b>Consultation normale</b>\nPrenez un rendez-vous dans les prochaines semaines. En "
        "attendant, gardez la zone propre et évitez de gratter.",
        "tier.self_care": "<b>Soins à domicile</b>\nCela semble peu grave. Un pharmacien peut vous conseiller. "
        "Consultez si cela s'aggrave, s'étend, saigne ou ne va pas mieux en 2 semaines.",
        "why": "<b>Pourquoi :</b> {reasons}",
        "findings": "<b>Ce que montre la photo (automatique, peut se tromper) :</b> {findings}",
        "possible": "<b>Causes possibles à discuter avec un médecin :</b> {conditions}",
        "forwarded": "Un dermatologue de ce service examinera votre dossier et vous répondra ici.",
        "no_model": "L'analyse d'image n'était pas disponible ; ce conseil repose uniquement sur vos réponses. "
        "Un soignant examinera votre photo.",
        "disclaimer": "<i>Ceci n'est pas un diagnostic. Si vous allez plus mal ou êtes inquiet, consultez.</i>",
    },
}


def pick_language(code: str | None) -> str:
    """The bot's language for a Telegram `language_code` such as `es-MX`; English when unsupported."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def t(language: str, key: str, **values: Any) -> str:
    """The message `key` in `language` (English if the language is unknown), with `values` filled in."""
    catalog = CATALOG.get(language, CATALOG[DEFAULT_LANGUAGE])
    return catalog[key].format(**values) if values else catalog[key]
