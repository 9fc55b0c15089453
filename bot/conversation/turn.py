"""One update's view of the conversation: who writes, in which language, where they are, and how to answer.

Every handler starts with `turn = await Turn.of(update, context)` and answers with `turn.reply(...)`. A reply that
Telegram cannot take now (the Bot API down or refusing with 429) goes to the outbox instead and is delivered, in
order with the chat's other messages, when Telegram answers again: the conversation's state is already stored, so
the patient never has to start over. Replies to a chat with such queued messages queue behind them.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from bot.services import Services, services_of
from bot.telegram_http import NOT_SENT
from bot.texts import pick_language, t_for
from triage import cases, outbox
from triage.rules import CaseError, assess, parse_case

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
CONVERSATION_STATES = ("photos", "q", "free_text", "confirm", "emergency")


@dataclass
class Turn:
    update: Update
    context: Context
    services: Services
    patient: cases.PatientView | None

    @classmethod
    async def of(cls, update: Update, context: Context) -> Turn:
        services = services_of(context)
        user = update.effective_user
        patient = await services.get_patient(user.id) if user else None
        return cls(update, context, services, patient)

    @classmethod
    async def of_tap(cls, update: Update, context: Context) -> tuple[Turn, CallbackQuery, list[str]] | None:
        """The turn of a button tap, the tap, and its data split at ":"; None for an update that is not a tap."""
        query = update.callback_query
        if query is None:
            return None
        return await cls.of(update, context), query, (query.data or "").split(":")

    async def refresh(self) -> cases.PatientView | None:
        user = self.update.effective_user
        self.patient = await self.services.get_patient(user.id) if user else None
        return self.patient

    @property
    def language(self) -> str:
        if self.patient is not None:
            return self.patient.language
        user = self.update.effective_user
        return pick_language(user.language_code if user else None)

    @property
    def consented(self) -> bool:
        return self.patient is not None and self.patient.consented

    @property
    def nonce(self) -> int:
        value = self.patient.data.get("nonce", 0) if self.patient else 0
        return int(value) if isinstance(value, int) else 0

    @property
    def is_health_worker(self) -> bool:
        return self.patient is not None and self.patient.is_health_worker

    @property
    def subject_id(self) -> int | None:
        """Whose case this is: the patient, or the patient the health worker is working on."""
        return self.patient.subject_id if self.patient is not None else None

    def t(self, key: str, **values: Any) -> str:
        """The message `key` in the person's language, worded for a health worker when they are one."""
        ref = self.patient.subject_ref if self.patient is not None else ""
        return t_for(self.language, key, self.is_health_worker, **{"ref": esc(ref), **values})

    def state_data(self, **values: Any) -> dict[str, Any]:
        """Conversation data for the next state: `values`, with the health worker's patient carried over."""
        old = self.patient.data if self.patient is not None else {}
        return {**{k: old[k] for k in cases.SUBJECT_KEYS if k in old}, **values}

    async def save(self, state: str, data: dict[str, Any], *, answers: dict[str, Any] | None = None,
                   text: str | None = None) -> None:
        """Store the case's answers (and words) with the person's place in the conversation (one round trip)."""
        patient = self.patient
        assert patient is not None and patient.case_id is not None
        await self.services.save_progress(patient_id=patient.id, case_id=patient.case_id, state=state, data=data,
                                          answers=answers, text=text, subject_id=patient.subject_id)

    async def case(self) -> cases.CaseView | None:
        """The case being worked on, if it is the subject's own."""
        patient = self.patient
        if patient is None or patient.case_id is None or patient.subject_id is None:
            return None
        return await self.services.run(cases.get_case, self.services.sessions, patient.subject_id, patient.case_id)

    def hint(self) -> str:
        """The message key that tells the patient what to do next from where they are."""
        patient = self.patient
        if patient is None or not patient.consented:
            return "need_consent"
        hints = {"photos": "need_photo", "q": "use_buttons", "confirm": "use_buttons", "free_text": "type_or_skip",
                 "emergency": "use_buttons", "waiting_result": "waiting", "result": "result_hint",
                 "hw_intake": "use_buttons", "patient": "use_buttons", "delete_patient": "use_buttons",
                 "lesion_name": "lesion_type_name", "lesion_site": "use_buttons"}
        return hints.get(patient.state, "hw_help" if patient.is_health_worker else "idle_hint")

    async def reply(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Send `text` (HTML) to this chat now, or through the outbox when Telegram cannot take it now."""
        chat = self.update.effective_chat
        if chat is None:
            return
        services = self.services
        if chat.id in services.queued_chats:
            if await services.run(outbox.has_unsent, services.sessions, chat.id):
                await self._queue(chat.id, text, markup)
                return
            services.queued_chats.discard(chat.id)
        try:
            await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except (NetworkError, RetryAfter) as exc:  # Telegram away or busy: the outbox delivers it later
            # A timeout after the request was written is ambiguous: Telegram may have it. Sent again (a duplicate
            # rather than a loss), the row marked delivery_uncertain.
            uncertain = isinstance(exc, TimedOut) and NOT_SENT not in str(exc)
            log.warning("chat reply not sent (%s): queued in the outbox%s", exc.__class__.__name__,
                        ", perhaps delivered already" if uncertain else "")
            await self._queue(chat.id, text, markup, uncertain=uncertain)

    async def _queue(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None, *,
                     uncertain: bool = False) -> None:
        services = self.services
        await services.run(outbox.queue_text, services.sessions, chat_id, text,
                           markup.to_dict() if markup is not None else None, uncertain=uncertain)
        services.queued_chats.add(chat_id)
        services.send_outbox_now()

    async def typing(self) -> None:
        """Show "typing…" while the answer is prepared; nothing depends on it."""
        chat = self.update.effective_chat
        if chat is not None:
            await best_effort(self.context.bot.send_chat_action(chat.id, ChatAction.TYPING))

    async def acknowledge(self, query: CallbackQuery) -> None:
        """Stop the button's spinner without making the patient wait for that round trip (in webhook mode the
        answer rides in the webhook's response anyway)."""
        application = self.context.application
        if application.running:
            application.create_task(best_effort(query.answer()), update=None, name="answer-callback")
        else:  # shutting down: no background tasks any more
            await best_effort(query.answer())

    async def refuse(self, query: CallbackQuery, key: str = "stale_button") -> None:
        await best_effort(query.answer(self.t(key), show_alert=True))


async def best_effort(call: Awaitable[Any]) -> None:
    """A Bot API call whose failure changes nothing for the patient (a chat action, a spinner, a keyboard edit)."""
    with contextlib.suppress(TelegramError):
        await call


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def is_emergency(answers: dict[str, Any], text: str) -> bool:
    """Whether the answers so far already mean "emergency" (the same rules the worker applies)."""
    try:
        case = parse_case({"patient": answers.get("patient", {}), "answers": answers.get("answers", {}),
                           "text": text})
    except CaseError:  # cannot happen with the questionnaire's own answers; never block the patient on it
        log.exception("stored answers do not parse as a triage case")
        return False
    return assess(case).tier == "emergency"
