"""Fault suite: patients in whole conversations while a fault is injected into the real processes. A script that
prints figures, not a test (tests/test_fault_suite.py runs one fault of it in the suite).

    python -m tests.fault_suite                  # every fault, about 2 minutes each
    python -m tests.fault_suite web-kill model-down --patients 30
    python -m tests.fault_suite --list           # the faults and what each does
    python -m tests.fault_suite --summarize      # the table of the last runs, from var/fault-suite/*.json

Each fault gets a fresh stack with the default settings (no timer shortened): a PostgreSQL and a Redis server of
its own (so they can be stopped and killed for real), the model server (`instant`, each analysis taking
--model-s), a Celery worker (2 processes), beat, the web process (webhook), the clinicians' group set, and a fake
Telegram Bot API at the HTTP level that answers after 50 ms and delivers updates as Telegram does: an update whose
delivery is not answered 200 is delivered again (after 1 s, doubling to 8 s). Patients go through whole
conversations (photo, every question, Submit, the answer, /new) with a pause of about --think-ms before each
update; --warmup seconds after they start the fault begins, and it ends when what was broken serves again. They go
on for --after seconds more, and then every submitted case gets --grace seconds to be answered.

Printed per fault: cases submitted, lost (submitted, never answered), duplicated messages (a patient's message
sent twice, or an alert twice to the group), answers Telegram may have got twice (rows marked
`delivery_uncertain`: the documented ambiguous timeout), conversations stalled (no reply to an update for 90 s),
and the longest wait after the fault's end: from max(the fault's end, the Submit tap) to the answer, and from
max(the fault's end, an update) to the bot's reply. Targets: 0 lost, no duplicate beyond the rows the service marked
`delivery_uncertain`, 0 stalled, every wait after the fault's end at most 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, func, select

from tests.bot_harness import SECRET
from tests.fake_telegram import Call, FakeBotAPI
from tests.images import skin_photo
from tests.load import RESULT_MARK, SimulatedPatient, Stats
from tests.processes import PrivatePostgres, PrivateRedis, Proc, celery_beat, celery_worker, free_port, python
from triage.models import Outbox, OutboxStatus

CLINICIAN_CHAT = -1001000000002
OUT = Path("var/fault-suite")
STALL_S = 90.0  # a patient who hears nothing for this long after an update has a stalled conversation
REDELIVERY_MAX_S = 8.0


@dataclass
class Figures:
    fault: str
    patients: int
    cases: int = 0
    answered: int = 0
    lost: int = 0
    duplicated: int = 0
    uncertain: int = 0
    stalled: int = 0
    redeliveries: int = 0  # webhook deliveries not answered 200, delivered again
    worst_answer_after_fault_s: float = 0.0  # max over cases of answer - max(fault end, Submit)
    worst_reply_after_fault_s: float = 0.0  # max over updates of reply - max(fault end, update)
    answer_p95_s: float = 0.0  # Submit -> answer, every case of the run
    fault_s: float = 0.0  # how long the fault lasted
    drained_after_fault_s: float = 0.0  # the fault's end -> the last outbox row sent (the group's alerts too)
    group_messages: int = 0  # messages the clinicians' group got (alerts, and summaries of several)
    problems: list[str] = field(default_factory=list)

    def passed(self) -> bool:
        # A duplicate is allowed only where delivery is ambiguous by design: rows the service marked as possibly
        # delivered already (delivery_uncertain: a send that timed out after it was written, or a sender that died
        # between sending and recording; one such row may arrive more than twice, as each retry may time out too),
        # and updates Telegram delivered again after a crash that came after their reply was sent (at most one
        # reply again per delivery repeated: updates are acknowledged only once handled, so at least once).
        explained = self.uncertain > 0 or self.duplicated <= self.redeliveries
        return (self.cases > 0 and not self.problems and self.lost == 0 and explained
                and self.stalled == 0
                and self.worst_answer_after_fault_s <= 30 and self.worst_reply_after_fault_s <= 30)


class Timeline:
    """When the fault began and ended (wall clock), and what each patient saw and when."""

    def __init__(self) -> None:
        self.fault_start = float("inf")
        self.fault_end = float("inf")
        self.submits: dict[int, list[float]] = {}  # user -> Submit taps (first delivery)
        self.answers: dict[int, list[float]] = {}  # user -> answers received
        self.replies: list[tuple[float, float]] = []  # (update first delivered, reply received)
        self.stalls: list[str] = []
        self.redeliveries = 0
        self.drained = 0.0  # when the last outbox row (the group's alerts included) was sent


class Stalled(Exception):
    pass


class FaultPatient(SimulatedPatient):
    """A patient whose updates Telegram delivers again until the webhook answers 200, and who notes every wait."""

    def __init__(self, user_id: int, api: FakeBotAPI, client: aiohttp.ClientSession, photo: bytes, think_s: float,
                 timeline: Timeline) -> None:
        super().__init__(user_id, api, client, Stats(), photo, think_s)
        self.timeline = timeline
        self.last_update_at = 0.0
        self.stop_new = float("inf")  # monotonic: no case is started after it
        self.answer_by = float("inf")  # monotonic: an answer not received by then is lost

    async def post(self, update: dict[str, Any], *, submit: bool = False) -> None:
        if self.think_s:
            # 0.8-1.8 times --think-ms, by patient: with the round trip, under the bot's 2 updates/s per person
            await asyncio.sleep(self.think_s * (0.8 + (self.user_id % 11) / 10))
        self.last_update_at = time.time()
        if submit:
            self.timeline.submits.setdefault(self.user_id, []).append(self.last_update_at)
        delay = 1.0
        while True:  # as Telegram does: a delivery not answered 200 is delivered again, later
            try:
                async with self.client.post("/telegram/webhook", json=update,
                                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                    if resp.status == 200:
                        await self.api.webhook_reply(await resp.json())
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.timeline.redeliveries += 1
            await asyncio.sleep(delay)
            delay = min(REDELIVERY_MAX_S, delay * 2)

    async def reply(self, needle: str = "", timeout: float = STALL_S) -> Call:  # noqa: ASYNC109
        try:
            call = await super().reply(needle, timeout)
        except TimeoutError:
            raise Stalled(f"patient {self.user_id}: no reply {needle!r} for {timeout:.0f} s") from None
        self.timeline.replies.append((self.last_update_at, time.time()))
        return call

    async def tap(self, suffixes: tuple[str, ...], *, submit: bool = False) -> None:
        """As a person does when the screen shows something else (a message that came twice, late): wait for the
        next message with the button, then tap it."""
        for _ in range(5):
            if any(d.endswith(suffixes) for d in self.keyboard):
                return await super().tap(suffixes, submit=submit)
            await self.reply()
        raise Stalled(f"patient {self.user_id}: no button {suffixes} on the screen")

    async def submit_and_wait(self) -> None:
        await self.tap((":submit",), submit=True)
        while True:  # "being analysed", then the answer (waited for until the run's end)
            call = await asyncio.wait_for(self.inbox.get(), max(0.01, min(self.answer_by - time.monotonic(), 3600)))
            text = str(call.params.get("text", ""))
            if "being analysed" in text:
                self.timeline.replies.append((self.last_update_at, time.time()))
            if RESULT_MARK in text:
                self.timeline.answers.setdefault(self.user_id, []).append(time.time())
                return

    async def one_case(self) -> None:
        await self.fill_case()
        await self.submit_and_wait()
        await self.new_case()

    async def run(self, deadline: float = float("inf")) -> None:
        onboarded = False
        while time.monotonic() < min(deadline, self.stop_new):
            try:
                if not onboarded:
                    await self.onboard()
                    onboarded = True
                await self.one_case()
            except Stalled as exc:
                self.timeline.stalls.append(str(exc))
                onboarded = False  # as a person would: /start again
            except (aiohttp.ClientError, RuntimeError, KeyError, ValueError) as exc:  # counted, never hidden
                self.timeline.stalls.append(f"patient {self.user_id}: {exc!r}")
                onboarded = False
                await asyncio.sleep(1)
            except TimeoutError:
                return  # the answer did not come before the run's end: counted as lost


# -- the stack ----------------------------------------------------------------------------------------------------
class FaultStack:
    def __init__(self, work: Path, api: FakeBotAPI, model_s: float) -> None:
        self.work = work
        self.api = api
        self.postgres = PrivatePostgres()
        self.redis = PrivateRedis()
        self.model_port, self.web_port = free_port(), free_port()
        self.env = {
            **os.environ, "DATA_DIR": str(work), "DATABASE_URL": self.postgres.url, "BROKER_URL": self.redis.url,
            "TELEGRAM_BOT_TOKEN": "1:FAULTS", "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": api.base_url, "TELEGRAM_API_FILE_URL": api.file_url,
            "WEB_PORT": str(self.web_port), "CLINICIAN_CHAT_ID": str(CLINICIAN_CHAT), "LOG_LEVEL": "INFO",
            "MODEL_SERVER_URL": f"http://127.0.0.1:{self.model_port}", "HF_HUB_OFFLINE": "1",
        }
        self.model_env = {**self.env, "MODEL_BACKEND": "instant", "MODEL_PORT": str(self.model_port),
                          "MODEL_INSTANT_DELAY_S": str(model_s)}
        self.procs: dict[str, Proc] = {}
        self.starts: Counter[str] = Counter()

    def _proc(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        self.starts[name] += 1
        proc = Proc(f"{name}-{self.starts[name]}", args, env, self.work)
        self.procs[name] = proc
        return proc

    def start_model(self) -> None:
        self._proc("model", python("-m", "model_server"), self.model_env).wait_http(
            f"http://127.0.0.1:{self.model_port}/healthz", 120)

    def start_worker(self) -> None:
        self._proc("worker", celery_worker("cases", 2), self.env).wait_log("ready", 60)

    def start_web(self) -> None:
        self._proc("web", python("-m", "bot"), self.env).wait_http(f"http://127.0.0.1:{self.web_port}/healthz", 60)

    def start(self) -> None:
        import subprocess

        subprocess.run(python("-m", "alembic", "upgrade", "head"), env=self.env, check=True, capture_output=True)
        self.start_model()
        self.start_worker()
        self._proc("beat", celery_beat(self.work), self.env).wait_log("beat: Starting", 60)
        self.start_web()

    def kill(self, name: str) -> None:
        self.procs[name].kill(signal.SIGKILL)
        self.procs[name].popen.wait(10)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.redis.close()
        self.postgres.close()


@dataclass
class Fault:
    name: str
    what: str
    run: Callable[[FaultStack], Awaitable[None]]  # injects the fault and returns once it is over


def _sleep_then(seconds: float, heal: Callable[[], None]) -> Callable[[FaultStack], Awaitable[None]]:
    async def run(stack: FaultStack) -> None:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(heal)

    return run


async def _worker_kill(stack: FaultStack) -> None:
    stack.kill("worker")  # the main process and its pool: the whole worker machine gone
    await asyncio.sleep(10)
    await asyncio.to_thread(stack.start_worker)


async def _model_down(stack: FaultStack) -> None:
    stack.kill("model")
    await asyncio.sleep(20)
    await asyncio.to_thread(stack.start_model)


async def _redis_restart(stack: FaultStack) -> None:
    stack.redis.kill()
    await asyncio.sleep(10)
    await asyncio.to_thread(stack.redis.start)


async def _postgres_restart(stack: FaultStack, mode: str) -> None:
    await asyncio.to_thread(stack.postgres.restart, mode)


async def _postgres_stop(stack: FaultStack) -> None:
    await asyncio.to_thread(stack.postgres.stop)
    await asyncio.sleep(20)
    await asyncio.to_thread(stack.postgres.start)


async def _botapi_outage(stack: FaultStack) -> None:
    stack.api.outage = (500, 0)
    await asyncio.sleep(15)
    stack.api.outage = (429, 5)
    await asyncio.sleep(10)
    stack.api.outage = None


async def _botapi_refused(stack: FaultStack) -> None:
    await stack.api.restart(after_s=20)


async def _botapi_slow(stack: FaultStack) -> None:
    before = stack.api.latency_s
    stack.api.latency_s = 8.0  # longer than the bot's 5-s read timeout: every send is ambiguous
    await asyncio.sleep(20)
    stack.api.latency_s = before


async def _web_kill(stack: FaultStack) -> None:
    stack.kill("web")
    await asyncio.sleep(3)
    await asyncio.to_thread(stack.start_web)


FAULTS = {f.name: f for f in [
    Fault("none", "no fault: the baseline", _sleep_then(0, lambda: None)),
    Fault("worker-kill", "the whole Celery worker (main process and pool) SIGKILLed; a new one 10 s later",
          _worker_kill),
    Fault("model-down", "the model server SIGKILLed; started again 20 s later", _model_down),
    Fault("redis-restart", "Redis killed, everything queued in it lost; started again empty 10 s later",
          _redis_restart),
    Fault("postgres-fast", "PostgreSQL restarted (-m fast: every connection ended)",
          lambda s: _postgres_restart(s, "fast")),
    Fault("postgres-immediate", "PostgreSQL restarted (-m immediate: no shutdown, crash recovery at start)",
          lambda s: _postgres_restart(s, "immediate")),
    Fault("postgres-stop", "PostgreSQL stopped for 20 s while messages are being sent", _postgres_stop),
    Fault("botapi-outage", "the Bot API answers 500 for 15 s, then 429 (retry after 5 s) for 10 s", _botapi_outage),
    Fault("botapi-refused", "the Bot API refuses connections for 20 s", _botapi_refused),
    Fault("botapi-slow", "the Bot API answers after 8 s (past the bot's 5-s read timeout) for 20 s", _botapi_slow),
    Fault("web-kill", "the web process SIGKILLed mid-traffic; a new one 3 s later (Telegram delivers again what "
          "was not answered 200)", _web_kill),
]}


# -- one run ------------------------------------------------------------------------------------------------------
async def run_fault(fault: Fault, args: argparse.Namespace) -> Figures:
    work = Path(tempfile.mkdtemp(prefix=f"derma-fault-{fault.name}-"))
    api = FakeBotAPI(latency_s=0.05)
    await api.start()
    stack = FaultStack(work, api, args.model_s)
    timeline = Timeline()
    figures = Figures(fault.name, args.patients)
    try:
        await asyncio.to_thread(stack.start)
        photo = skin_photo(with_gps=False)
        connector = aiohttp.TCPConnector(limit=args.patients + 10)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{stack.web_port}", connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=60)) as client:
            patients = [FaultPatient(20_000 + i, api, client, photo, args.think_ms / 1000, timeline)
                        for i in range(args.patients)]

            async def inject() -> None:
                await asyncio.sleep(args.warmup)
                timeline.fault_start = time.time()
                await fault.run(stack)
                timeline.fault_end = time.time()

            runs = [asyncio.create_task(p.run()) for p in patients]
            await inject()
            # New cases stop --after seconds after the fault ends; the last answers get --grace more.
            await _stop_at(runs, patients, time.monotonic() + args.after, time.monotonic() + args.after + args.grace)
        # The clinicians' group drains at Telegram's 20 messages a minute: wait for it (until the grace ends).
        drain_by = time.monotonic() + args.grace
        while True:
            uncertain, unsent = await asyncio.to_thread(outbox_counts, stack.postgres.url)
            if not unsent or time.monotonic() > drain_by:
                break
            await asyncio.sleep(1)
        timeline.drained = time.time()
        figures = measure(fault.name, args.patients, timeline, api.calls, uncertain=uncertain, unsent=unsent)
    except Exception as exc:  # a broken run is reported, not hidden
        figures.problems.append(f"{exc.__class__.__name__}: {exc}")
    finally:
        await asyncio.to_thread(stack.close)
        await api.stop()
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return figures


async def _stop_at(runs: list[asyncio.Task[None]], patients: list[FaultPatient], stop_new: float,
                   answer_by: float) -> None:
    """Patients start no case after `stop_new`; a case under way may finish until `answer_by`."""
    for p in patients:
        p.stop_new, p.answer_by = stop_new, answer_by
    await asyncio.sleep(max(0.0, stop_new - time.monotonic()))
    _, pending = await asyncio.wait(runs, timeout=max(0.0, answer_by - time.monotonic()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def measure(name: str, patients: int, timeline: Timeline, calls: list[Call], *, uncertain: int = 0,
            unsent: int = 0) -> Figures:
    drained = round(max(0.0, timeline.drained - timeline.fault_end), 1)
    figures = Figures(name, patients, fault_s=round(timeline.fault_end - timeline.fault_start, 1),
                      uncertain=uncertain, drained_after_fault_s=drained)
    end = timeline.fault_end
    answer_waits, totals = [], []
    for user, submits in timeline.submits.items():
        answers = timeline.answers.get(user, [])
        figures.cases += len(submits)
        figures.answered += min(len(submits), len(answers))
        figures.lost += max(0, len(submits) - len(answers))
        for submitted, answered in zip(submits, answers, strict=False):
            totals.append(answered - submitted)
            if answered > end:
                answer_waits.append(answered - max(end, submitted))
    reply_waits = [reply - max(end, sent) for sent, reply in timeline.replies if reply > end]
    figures.worst_answer_after_fault_s = round(max(answer_waits, default=0.0), 1)
    figures.worst_reply_after_fault_s = round(max(reply_waits, default=0.0), 1)
    figures.answer_p95_s = round(sorted(totals)[int(0.95 * (len(totals) - 1))], 1) if totals else 0.0
    figures.stalled = len(timeline.stalls)
    figures.redeliveries = timeline.redeliveries
    figures.duplicated = duplicates(calls)
    figures.group_messages = sum(1 for c in calls if c.method in ("sendMessage", "sendPhoto")
                                 and str(c.params.get("chat_id")) == str(CLINICIAN_CHAT))
    if unsent:
        figures.problems.append(f"{unsent} outbox rows still unsent at the end")
    figures.problems += timeline.stalls[:5]
    return figures


def outbox_counts(database_url: str) -> tuple[int, int]:
    """(rows marked delivery_uncertain, rows still pending or sending) at the end of a run."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            uncertain = conn.scalar(select(func.count()).select_from(Outbox).where(Outbox.delivery_uncertain.is_(True)))
            unsent = conn.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])))
            return int(uncertain or 0), int(unsent or 0)
    finally:
        engine.dispose()


def duplicates(calls: list[Call]) -> int:
    """Messages delivered twice: to a patient, the same text twice in a row or an answer beyond one per Submit;
    to the clinicians' group, the same text twice."""
    count = 0
    by_chat: dict[str, list[str]] = {}
    for call in calls:
        if call.method in ("sendMessage", "sendPhoto"):
            text = str(call.params.get("text") or call.params.get("caption") or "")
            by_chat.setdefault(str(call.params.get("chat_id")), []).append(text)
    for chat, texts in by_chat.items():
        if chat == str(CLINICIAN_CHAT):
            count += sum(n - 1 for n in Counter(texts).values())
            continue
        count += sum(1 for a, b in itertools.pairwise(texts) if a == b)
        answers, submits = 0, 0
        for text in texts:
            if RESULT_MARK in text:
                answers += 1
            if "being analysed" in text:
                submits += 1
        count += max(0, answers - submits)
    return count


# -- reporting ----------------------------------------------------------------------------------------------------
COLUMNS = [("fault", 19), ("cases", 6), ("lost", 5), ("dup", 4), ("uncert", 7), ("stalled", 8), ("redeliv", 8),
           ("answer≤", 8), ("reply≤", 7), ("p95", 6), ("fault s", 8), ("drained", 8), ("group", 6), ("ok", 3)]


def row(f: Figures) -> str:
    values = [f.fault, f.cases, f.lost, f.duplicated, f.uncertain, f.stalled, f.redeliveries,
              f"{f.worst_answer_after_fault_s:.1f}", f"{f.worst_reply_after_fault_s:.1f}", f"{f.answer_p95_s:.1f}",
              f"{f.fault_s:.1f}", f"{f.drained_after_fault_s:.0f}", f.group_messages,
              "yes" if f.passed() else "NO"]
    return " ".join(f"{v!s:<{w}}" if i == 0 else f"{v!s:>{w}}" for i, (v, (_, w)) in enumerate(
        zip(values, COLUMNS, strict=True)))


def header() -> str:
    return " ".join(f"{n:<{w}}" if i == 0 else f"{n:>{w}}" for i, (n, w) in enumerate(COLUMNS))


def summarize(folder: Path) -> list[Figures]:
    found = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        found.append(Figures(**data))
    return found


def print_table(results: list[Figures]) -> None:
    print(header())
    for figures in results:
        print(row(figures))
        for problem in figures.problems:
            print(f"    {problem}")
    print("answer≤ / reply≤: the longest wait (s) after the fault's end for an answer / a reply; p95: Submit -> "
          "answer over the whole run; uncert: rows marked delivery_uncertain (Telegram may have them twice); drained: "
          "the fault's end -> the last message sent, the clinicians' group's included (20 a minute); group: messages "
          "the group got for the run's alerts (several alerts waiting go as one summary)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fault_suite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("faults", nargs="*", help="faults to run (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--summarize", action="store_true", help="print the table of the runs saved in --out")
    parser.add_argument("--patients", type=int, default=16, help="simulated patients at once (default 16)")
    parser.add_argument("--think-ms", type=int, default=500, help="a patient's pause before each update (500)")
    parser.add_argument("--model-s", type=float, default=0.5,
                        help="seconds each model batch takes (default 0.5; the worker's 2 processes wait on it, so "
                             "16 patients keep them about half busy: a fault is measured, not a queue)")
    parser.add_argument("--warmup", type=float, default=15, help="seconds before the fault (default 15)")
    parser.add_argument("--after", type=float, default=40, help="seconds of new cases after the fault (default 40)")
    parser.add_argument("--grace", type=float, default=120,
                        help="seconds the last cases get to be answered (default 120)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where each fault's figures go (default {OUT})")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (logs) under /tmp")
    parser.add_argument("--quick", action="store_true", help="10 patients, 8-s warm-up, 20 s after the fault")
    args = parser.parse_args(argv)
    if args.list:
        for fault in FAULTS.values():
            print(f"{fault.name:<20}{fault.what}")
        return 0
    if args.summarize:
        results = summarize(args.out)
        if not results:
            parser.error(f"no runs saved in {args.out}")
        print_table(results)
        return 0 if all(f.passed() for f in results) else 1
    unknown = [name for name in args.faults if name not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; --list shows them")
    if not 1 <= args.patients <= 200:
        parser.error("--patients must be 1-200")
    if args.quick:
        args.patients, args.warmup, args.after = min(args.patients, 10), 8, 20
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.faults or list(FAULTS):
        figures = asyncio.run(run_fault(FAULTS[name], args))
        (args.out / f"{name}.json").write_text(json.dumps(asdict(figures), indent=1))
        results.append(figures)
        print(header() if len(results) == 1 else "", end="\n" if len(results) == 1 else "")
        print(row(figures), flush=True)
        for problem in figures.problems:
            print(f"    {problem}", flush=True)
    print()
    print_table(results)
    return 0 if all(f.passed() for f in results) else 1


if __name__ == "__main__":
    sys.exit(main())
