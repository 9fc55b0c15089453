"""Button answers in the webhook's HTTP response instead of a request of their own.

Telegram lets a bot answer a webhook delivery with one Bot API call in the response body. Every button tap needs an
`answerCallbackQuery` (it stops the button's spinner, or shows a pop-up such as "That button belongs to an earlier
message"), so the webhook waits briefly for the handler's answer and returns it: one HTTP request less per tap,
and the spinner stops a round trip sooner on a slow phone connection.

The handlers are unchanged: they call `query.answer(...)` as PTB intends, and `AnsweringBot.answer_callback_query`
hands the answer to the waiting webhook when there is one, or sends it as a request otherwise (polling mode, or a
handler slower than `WAIT_S`, whose webhook has already returned). Telegram reports no error for a call made in a
webhook response; for a button's answer nothing depends on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from telegram._utils.types import ODVInput
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

    async def wait(self, query_id: str, future: asyncio.Future[dict[str, Any]]) -> dict[str, Any] | None:
        """The handler's answer as the webhook response's method call, or None after `WAIT_S`."""
        try:
            answer = await asyncio.wait_for(asyncio.shield(future), WAIT_S)
        except TimeoutError:
            self.forget(query_id)
            return None
        call: dict[str, Any] = {"method": "answerCallbackQuery", "callback_query_id": query_id}
        for key, value in answer.items():
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
        return await super().answer_callback_query(
            callback_query_id, text, show_alert, url, cache_time, read_timeout=read_timeout,
            write_timeout=write_timeout, connect_timeout=connect_timeout, pool_timeout=pool_timeout,
            api_kwargs=api_kwargs, rate_limit_args=rate_limit_args,
        )
