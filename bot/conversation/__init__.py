"""The patient's conversation with the bot, one module per stage: consent (`consent`), photos (`photos`), the
questionnaire, free text and confirmation (`questions`), resuming (`resume`), text routing and follow-up
questions (`messages`), following a spot over months (`lesions`), and the commands around them (`commands`).
`turn.Turn` is what every handler shares.

The patient's place is stored in the database (`Patient.conversation_state` / `conversation_data`), never only in
memory, so a restart or a second web process picks up exactly where the patient was. States:
`idle` → `photos` → `q` (one question at a time) → `free_text` → `confirm` → `waiting_result` → `result`, and
`emergency` when the answers so far mean an emergency (the advice first; the patient chooses to go on);
`lesion_name` → `lesion_site` while naming a spot to follow.
Buttons carry a nonce; a button from an older message is refused politely instead of acting twice.
"""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.conversation import commands, consent, lesions, messages, outreach, photos, questions

COMMANDS = ("start", "new", "status", "history", "language", "cancel", "help", "delete", "newpatient", "patients",
            "lesions")


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the patient handlers, in order. Only private chats: group chats belong to the clinician handlers."""
    private = filters.ChatType.PRIVATE
    for name, callback in (("start", consent.start), ("new", photos.new_case), ("status", commands.status),
                           ("history", commands.history), ("language", commands.language_command),
                           ("cancel", commands.cancel), ("help", commands.help_command),
                           ("delete", commands.delete_request), ("newpatient", outreach.new_patient),
                           ("patients", outreach.my_patients), ("lesions", lesions.lesions_command)):
        application.add_handler(CommandHandler(name, callback, filters=private))
    organisation = r"(:[a-z0-9][a-z0-9_-]{1,31})?"
    application.add_handler(CallbackQueryHandler(consent.consent_answer,
                                                 pattern=rf"^consent:(yes|no):[a-z]{{2}}{organisation}$"))
    application.add_handler(CallbackQueryHandler(consent.choose_language, pattern=rf"^lang:[a-z]{{2}}{organisation}$"))
    application.add_handler(CallbackQueryHandler(outreach.clinic_chosen, pattern=r"^org:[a-z0-9][a-z0-9_-]{1,31}$"))
    application.add_handler(CallbackQueryHandler(outreach.invite_answer, pattern=r"^chw:"))
    application.add_handler(CallbackQueryHandler(outreach.intake_answer, pattern=r"^hw:"))
    application.add_handler(CallbackQueryHandler(outreach.patient_chosen, pattern=r"^pt:"))
    application.add_handler(CallbackQueryHandler(outreach.patient_action, pattern=r"^pm:"))
    application.add_handler(CallbackQueryHandler(lesions.lesion_button, pattern=r"^lt:"))
    application.add_handler(CallbackQueryHandler(photos.photos_done, pattern=r"^ph:-?[0-9]+:done$"))
    application.add_handler(CallbackQueryHandler(questions.question_answer, pattern=r"^q:"))
    application.add_handler(CallbackQueryHandler(questions.free_text_skip, pattern=r"^ft:-?[0-9]+:skip$"))
    application.add_handler(CallbackQueryHandler(questions.emergency_choice, pattern=r"^em:"))
    application.add_handler(CallbackQueryHandler(questions.confirm_answer, pattern=r"^cf:"))
    application.add_handler(CallbackQueryHandler(commands.delete_answer, pattern=r"^delete:(yes|no)$"))
    application.add_handler(MessageHandler(private & (filters.PHOTO | filters.Document.ALL), photos.photo))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, messages.text))
    application.add_handler(MessageHandler(private & filters.COMMAND, commands.help_command))
    application.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, messages.unsupported))
    application.add_handler(CallbackQueryHandler(commands.unknown_button))
