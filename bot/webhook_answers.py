"""Button answers in the webhook's HTTP response instead of a request of their own.

Telegram lets a bot answer a webhook delivery with one Bot API call in the response body. Every button tap needs an
`answerCallbackQuery` (it stops the button's spinner, or shows a pop-up such as "That button belongs to an earlier
message"), so the webhook waits briefly for the handler's answer and returns it: one HTTP request less per tap,
and the spinner stops a round trip sooner on a slow phone connection.

The handlers are unchanged: they call `query.answer(...)` as PTB intends, and `AnsweringBot.answer_callback_query`
hands the answer to the waiting webhook when there is one, or sends it as a request otherwise (polling mode). The
webhook answers Telegram only once the tap's update is handled (bot/app.py); when that takes longer than `WAIT_S`,
the answer is released and sent as a request at once, so a slow handler never keeps the spinner going. Telegram
reports no error for a call made in a webhook response; for a button's answer nothing depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

from telegram._utils.types import ODVInput
from telegram.error import TelegramError
from telegram.ext import ExtBot
from telegram.request import BaseRequest

WAIT_S = 1.0  # how long a webhook delivery of a button tap waits for the handler's answer


class CallbackAnswers:
    """Webhook deliveries of button taps waiting for their answer, by callback query id (one event loop)."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, query_id: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[query_id] = future
        return future

    def give(self, query_id: str, answer: dict[str, Any]) -> bool:
        """Hand `answer` to the webhook waiting for it; False if none waits (it must be sent as a request)."""
        future = self._waiting.pop(query_id, None)
        if future is None or future.done():
            return False
        future.set_result(answer)
        return True

    def forget(self, query_id: str) -> None:
        self._waiting.pop(query_id, None)

    def release(self, query_id: str, future: asyncio.Future[dict[str, Any]]) -> dict[str, Any] | None:
        """Stop holding the tap's answer for the response: later answers go as requests. Returns an answer already
        given (to be sent as a request now), or None."""
        self.forget(query_id)
        return future.result() if future.done() and not future.cancelled() else None

    def collect(self, query_id: str, future: asyncio.Future[dict[str, Any]]) -> dict[str, Any] | None:
        """The answer given for the tap as the webhook response's method call, or None when none is held."""
        self.forget(query_id)
        if not future.done() or future.cancelled():
            return None
        call: dict[str, Any] = {"method": "answerCallbackQuery", "callback_query_id": query_id}
        for key, value in future.result().items():
            if isinstance(value, dt.timedelta):
                value = int(value.total_seconds())
            if value is not None:
                call[key] = value
        return call


class AnsweringBot(ExtBot[Any]):
    """PTB's bot, answering button taps through a waiting webhook response when there is one."""

    __slots__ = ("callback_answers",)
    callback_answers: CallbackAnswers

    def __init__(self, *args: Any, answers: CallbackAnswers, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "callback_answers", answers)  # PTB freezes its objects' attributes after init

    async def answer_callback_query(  # type: ignore[override]
        self,
        callback_query_id: str,
        text: str | None = None,
        show_alert: bool | None = None,
        url: str | None = None,
        cache_time: Any = None,
        *,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        api_kwargs: dict[str, Any] | None = None,
        rate_limit_args: Any = None,
    ) -> bool:
        answer = {"text": text, "show_alert": show_alert, "url": url, "cache_time": cache_time}
        if api_kwargs is None and self.callback_answers.give(callback_query_id, answer):
            return True
        return await self._answer_now(callback_query_id, text, show_alert, url, cache_time, read_timeout=read_timeout,
                                      write_timeout=write_timeout, connect_timeout=connect_timeout,
                                      pool_timeout=pool_timeout, api_kwargs=api_kwargs,
                                      rate_limit_args=rate_limit_args)

    async def send_held(self, callback_query_id: str, answer: dict[str, Any]) -> None:
        """Send an answer that was held for a webhook response as a request of its own."""
        with contextlib.suppress(TelegramError):
            await self._answer_now(callback_query_id, answer.get("text"), answer.get("show_alert"),
                                   answer.get("url"), answer.get("cache_time"))

    async def _answer_now(self, callback_query_id: str, text: str | None, show_alert: bool | None, url: str | None,
                          cache_time: Any, **kwargs: Any) -> bool:
        return await super().answer_callback_query(callback_query_id, text, show_alert, url, cache_time, **kwargs)
