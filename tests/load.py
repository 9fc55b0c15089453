"""Load test: simulated patients -> fake Bot API (answering after 50 ms, as the real one does over the internet)
-> web (webhook) -> queue -> worker -> model server -> replies. A script that prints figures, not a test.

    python -m tests.load --duration 60 --patients 40 --backend instant

Each simulated patient behaves like a phone: it sends an update, waits for the bot's reply, taps the button it
got, and so on: /start and consent once, then cases of photo -> Continue -> skip every question -> Submit ->
the answer (with --think-ms, a pause before each update, as a person reading takes). The clinicians' group
(CLINICIAN_CHAT_ID) is set, so every forwarded case also sends an alert that Telegram's group limit holds back
(--no-clinician-chat leaves it out). Reported: submitted cases per second, p50/p95 from the Submit tap to the
answer arriving at the Bot API with the model's own time taken out, updates per second handled by the web
process, the group's alerts, and whether every case got exactly one answer. Needs PostgreSQL and Redis on
127.0.0.1 (each run makes its own database and queue) unless --embedded.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, select, text

from tests.bot_harness import SECRET
from tests.fake_telegram import Call, FakeBotAPI
from tests.images import skin_photo
from tests.processes import Proc, celery_worker, free_port, python
from triage.models import Case, ModelResult, Outbox, Patient, TaskDispatch

RESULT_MARK = "<i>This is not a diagnosis"
CLINICIAN_CHAT = -1001000000001
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), to report CPU per update."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every process under it (a Celery worker and its pool's children)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy so far (Linux /proc/stat): whether the run saturated
    the machine, which everything here shares (database, broker, the simulated phones and Telegram too)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stats:
    updates: int = 0  # from measure_from on: the rates and CPU figures are of the timed window
    web_cpu_s: float = 0.0
    worker_cpu_s: float = 0.0
    machine_busy_s: float = 0.0
    measure_from: float = 0.0  # wall time: cases submitted earlier warm the processes up and are not timed
    submits: list[tuple[int, float]] = field(default_factory=list)  # (user, wall time of the Submit tap)
    results: list[tuple[int, float]] = field(default_factory=list)  # (user, wall time the answer reached the API)
    errors: list[str] = field(default_factory=list)


class SimulatedPatient:
    def __init__(self, user_id: int, api: FakeBotAPI, client: aiohttp.ClientSession, stats: Stats,
                 photo: bytes, think_s: float = 0.0) -> None:
        self.user_id = user_id
        self.think_s = think_s
        self.api = api
        self.client = client
        self.stats = stats
        self.photo = photo
        self.inbox: asyncio.Queue[Call] = asyncio.Queue()
        api.listeners[user_id] = self.inbox
        self.keyboard: list[str] = []
        self.start_after = 0.0  # seconds: patients arrive one by one, not all at the same instant

    async def post(self, update: dict[str, Any], *, submit: bool = False) -> None:
        if self.think_s:
            await asyncio.sleep(random.uniform(0.5, 1.5) * self.think_s)
        if submit:  # the clock starts when the tap leaves the phone, after the patient's pause
            self.stats.submits.append((self.user_id, time.time()))
        async with self.client.post("/telegram/webhook", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
            resp.raise_for_status()
            await self.api.webhook_reply(await resp.json())
        if time.time() >= self.stats.measure_from:
            self.stats.updates += 1

    async def reply(self, needle: str = "", timeout: float = 60) -> Call:  # noqa: ASYNC109
        """The next message (with a keyboard, or containing `needle`); remembers its buttons."""
        deadline = time.monotonic() + timeout
        while True:
            call = await asyncio.wait_for(self.inbox.get(), max(0.01, deadline - time.monotonic()))
            markup = call.params.get("reply_markup")
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                self.keyboard = [b.get("callback_data", "") for row in markup["inline_keyboard"] for b in row]
            body = str(call.params.get("text", ""))
            if call.method == "sendMessage" and (not needle or needle in body):
                return call

    async def tap(self, suffixes: tuple[str, ...], *, submit: bool = False) -> None:
        data = next(d for d in self.keyboard if d.endswith(suffixes))
        await self.post(self.api.callback_update(self.user_id, data), submit=submit)

    async def onboard(self) -> None:
        await self.post(self.api.text_update(self.user_id, "/start"))
        await self.reply("Do you agree?")
        await self.tap(("consent:yes:en",))
        await self.reply("1 to 3 photos")

    async def fill_case(self) -> None:
        """A photo, Continue, every question skipped, no free text: up to the summary that Submit sends."""
        await self.post(self.api.photo_update(self.user_id, self.photo))
        await self.reply("received")
        await self.tap((":done",))
        while True:  # every question, skipped, until the free-text prompt
            call = await self.reply()
            if "Anything else" in str(call.params.get("text", "")):
                break
            await self.tap((":_skip", ":_done"))
        await self.tap((":skip",))
        await self.reply("Please check")

    async def new_case(self) -> None:
        await self.post(self.api.text_update(self.user_id, "/new"))
        await self.reply("1 to 3 photos")

    async def one_case(self) -> None:
        await self.fill_case()
        await self.tap((":submit",), submit=True)
        await self.reply("being analysed")
        await self.reply(RESULT_MARK, timeout=120)
        self.stats.results.append((self.user_id, time.time()))
        await self.new_case()

    async def run(self, deadline: float) -> None:
        try:
            await asyncio.sleep(self.start_after)
            await self.onboard()
            while time.monotonic() < deadline:
                await self.one_case()
        except Exception as exc:  # a load test reports failures, it does not stop at the first
            self.stats.errors.append(f"patient {self.user_id}: {exc.__class__.__name__}: {exc}")


class Pipeline:
    """--pipeline-only: cases made beforehand (consent, photo, answers: the conversation's part), then submitted at
    --rate per second during the run as the Submit button does (`submit_case`, then its task row published),
    with each answer's arrival at the Bot API timed: the worker, model server, outbox and sender."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str]) -> None:
        from celery import Celery

        from triage.db import make_engine, make_sessionmaker
        from triage.images import ImageStore, load_keys

        self.args = args
        url = env.get("DATABASE_URL") or f"sqlite:///{Path(env['DATA_DIR']) / 'dermatriage.sqlite3'}"
        self.engine = make_engine(url, pool_size=4)
        self.sessions = make_sessionmaker(self.engine)
        # the web process's generated key file, so the worker can read the photos
        self.store = ImageStore(Path(env["DATA_DIR"]) / "images",
                                load_keys("", Path(env["DATA_DIR"]) / "image-encryption.key"))
        self.celery = Celery("load", broker=env.get("BROKER_URL", "filesystem://"))
        self.celery.conf.task_default_queue = env.get("CELERY_QUEUE", "cases")
        self.ready: list[tuple[int, int, int]] = []  # (user, patient id, case id), not yet submitted

    def _make(self, user: int) -> tuple[int, int, int]:
        from tests.factories import make_case
        from triage import cases

        case_id = make_case(self.sessions, self.store, user=user, submit=False)
        patient = cases.get_patient(self.sessions, user)
        assert patient is not None
        return user, patient.id, case_id

    async def prepare(self) -> None:
        wanted = int(self.args.rate * self.args.duration * 1.1) + 10
        users = range(50_001, 50_001 + wanted)
        for i in range(0, wanted, 50):
            self.ready += await asyncio.gather(*(asyncio.to_thread(self._make, u) for u in users[i: i + 50]))

    def _submit(self, patient_id: int, case_id: int) -> None:
        """As the Send button does: the case and its task row in one commit, then the row sent to the broker."""
        from triage import cases, dispatch

        assert cases.submit_case(self.sessions, patient_id=patient_id, case_id=case_id)
        dispatch.publish_due(self.sessions, lambda task, args: self.celery.send_task(task, args=args))

    async def run(self, api: FakeBotAPI, stats: Stats, deadline: float) -> None:
        pending: list[asyncio.Task[None]] = []

        async def one(user: int, patient_id: int, case_id: int) -> None:
            inbox: asyncio.Queue[Call] = asyncio.Queue()
            api.listeners[user] = inbox
            stats.submits.append((user, time.time()))
            await asyncio.to_thread(self._submit, patient_id, case_id)
            while True:
                call = await asyncio.wait_for(inbox.get(), 120)
                if RESULT_MARK in str(call.params.get("text", "")):
                    stats.results.append((user, time.time()))
                    return

        per_tick = max(1, int(self.args.rate / 10))
        while time.monotonic() < deadline and self.ready:
            tick = time.monotonic()
            batch, self.ready = self.ready[:per_tick], self.ready[per_tick:]
            pending += [asyncio.create_task(one(*item)) for item in batch]
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
        if not self.ready:
            stats.errors.append("ran out of prepared cases before the end")
        results = await asyncio.gather(*pending, return_exceptions=True)
        stats.errors += [repr(r) for r in results if isinstance(r, BaseException)]

    def close(self) -> None:
        self.celery.close()
        self.engine.dispose()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _ms(values: list[float], q: float) -> float:
    return 1000 * _pct(values, q)


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="derma-load-"))
    api = FakeBotAPI(latency_s=args.latency_ms / 1000)
    await api.start()
    env = {**os.environ, "DATA_DIR": str(work), "TELEGRAM_BOT_TOKEN": "1:LOAD", "TELEGRAM_MODE": "webhook",
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE_URL": api.base_url,
           "TELEGRAM_API_FILE_URL": api.file_url, "WEB_PORT": str(free_port()), "LOG_LEVEL": "WARNING",
           "RATE_LIMIT_BURST": "1000", "MODEL_MAX_ATTEMPTS": "1",
           "MAX_CONCURRENT_UPDATES": str(args.concurrent_updates), "HF_HUB_OFFLINE": "1",
           "TELEGRAM_MAX_MESSAGES_PER_S": str(args.max_messages_per_s),
           "TELEGRAM_CONNECTION_POOL_SIZE": str(args.pool)}
    if args.clinician_chat:
        env["CLINICIAN_CHAT_ID"] = str(CLINICIAN_CHAT)
    database = ""
    if not args.embedded:
        database = f"derma_load_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
        env["BROKER_URL"] = "redis://127.0.0.1:6379/0"
        env["CELERY_QUEUE"] = f"load-{uuid.uuid4().hex[:8]}"
    model_port = free_port()
    env["MODEL_SERVER_URL"] = f"http://127.0.0.1:{model_port}"
    model_env = {**env, "MODEL_BACKEND": args.backend, "MODEL_PORT": str(model_port), "MODEL_MAX_NEW_TOKENS": "16"}
    if args.backend == "hf":
        from model_server.tiny import build_tiny_model

        model_env["MODEL_PATH"] = str(build_tiny_model(work / "model"))
    procs: list[Proc] = []
    try:
        import subprocess

        await asyncio.to_thread(subprocess.run, python("-m", "alembic", "upgrade", "head"), env=env, check=True,
                                capture_output=True)
        model = Proc("model", python("-m", "model_server"), model_env, work)
        procs.append(model)
        worker = Proc("worker", celery_worker(env.get("CELERY_QUEUE", "cases"), args.worker_concurrency), env, work)
        procs.append(worker)
        web = Proc("web", python("-m", "bot"), env, work)
        procs.append(web)
        await asyncio.to_thread(model.wait_http, f"{env['MODEL_SERVER_URL']}/healthz", 180)
        await asyncio.to_thread(web.wait_http, f"http://127.0.0.1:{env['WEB_PORT']}/healthz", 60)
        await asyncio.to_thread(worker.wait_log, "ready", 60)

        stats = Stats()
        photo = skin_photo(with_gps=False)
        # aiohttp, not httpx: the load generator shares the machine, and httpx's pool cost it most of a core.
        connector = aiohttp.TCPConnector(limit=args.patients + 10)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{env['WEB_PORT']}", connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=60)) as client:
            pipeline = Pipeline(args, env) if args.pipeline_only else None
            if pipeline is not None:
                await pipeline.prepare()
            started = time.monotonic()
            stats.measure_from = time.time() + args.warmup
            deadline = started + args.duration
            web_cpu = worker_cpu = machine_busy = 0.0
            measured_from = started

            async def measure() -> None:
                """The rates and CPU figures count from the end of the warm-up, when every patient has arrived."""
                nonlocal web_cpu, worker_cpu, machine_busy, measured_from
                await asyncio.sleep(max(0.0, stats.measure_from - time.time()))
                measured_from = time.monotonic()
                web_cpu, worker_cpu = cpu_seconds(web.popen.pid), tree_cpu_seconds(worker.popen.pid)
                machine_busy = machine_busy_seconds()

            if pipeline is not None:
                await asyncio.gather(pipeline.run(api, stats, deadline), measure())
                pipeline.close()
            else:
                patients = [SimulatedPatient(10_000 + i, api, client, stats, photo, args.think_ms / 1000)
                            for i in range(args.patients)]
                for patient in patients:
                    patient.start_after = random.uniform(0, args.ramp)
                await asyncio.gather(*(p.run(deadline) for p in patients), measure())
            elapsed = time.monotonic() - measured_from
            stats.web_cpu_s = cpu_seconds(web.popen.pid) - web_cpu
            stats.worker_cpu_s = tree_cpu_seconds(worker.popen.pid) - worker_cpu
            stats.machine_busy_s = machine_busy_seconds() - machine_busy
        report(args, stats, elapsed, env.get("DATABASE_URL") or f"sqlite:///{work / 'dermatriage.sqlite3'}", api)
        return 0 if not stats.errors else 1
    finally:
        for proc in procs:
            proc.stop()
        await api.stop()
        if database:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def report(args: argparse.Namespace, stats: Stats, elapsed: float, database_url: str, api: FakeBotAPI) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        model_ms = {}
        for user, latency in conn.execute(
            select(Patient.telegram_user_id, ModelResult.latency_ms).join(Case, Case.patient_id == Patient.id)
            .join(ModelResult, ModelResult.case_id == Case.id).order_by(Case.id)
        ):
            model_ms.setdefault(user, []).append(latency / 1000)
        per_case = conn.execute(
            select(Outbox.case_id, text("count(*)")).where(Outbox.kind == "patient_result").group_by(Outbox.case_id)
        ).all()
        alerts = conn.execute(
            select(Outbox.status, text("count(*)")).where(Outbox.chat_id == CLINICIAN_CHAT).group_by(Outbox.status)
        ).all()
        # Where the time goes, per answered case: Submit -> the worker queued the answer -> the sender sent it.
        stages = conn.execute(
            select(Case.submitted_at, Outbox.created_at, Outbox.sent_at, Outbox.attempts)
            .join(Outbox, Outbox.case_id == Case.id).where(Outbox.kind == "patient_result")
        ).all()
        # Inside "queued": Submit -> the model's result stored (publishing, the broker, the worker's start and the
        # model call) and the model's result -> the answer queued (the rules, the answer's text, the case's rows).
        analysed = conn.execute(
            select(Case.submitted_at, ModelResult.created_at, ModelResult.latency_ms)
            .join(ModelResult, ModelResult.case_id == Case.id)
        ).all()
        republished = conn.execute(select(text("count(*)")).select_from(TaskDispatch).where(TaskDispatch.sends > 1))
        republished_tasks = int(republished.scalar() or 0)
        submitted = conn.execute(select(text("count(*)")).select_from(Case).where(Case.submitted_at.is_not(None)))
        submitted_cases = int(submitted.scalar() or 0)
    engine.dispose()
    overheads, totals = [], []
    submits: dict[int, list[float]] = {}
    for user, at in stats.submits:
        submits.setdefault(user, []).append(at)
    results: dict[int, list[float]] = {}
    for user, at in stats.results:
        results.setdefault(user, []).append(at)
    for user, times in results.items():
        for i, at in enumerate(times):
            if submits[user][i] < stats.measure_from:
                continue
            total = at - submits[user][i]
            model = model_ms.get(user, [])[i] if i < len(model_ms.get(user, [])) else 0.0
            totals.append(total)
            overheads.append(total - model)
    answered = sum(1 for _, n in per_case if n == 1)
    duplicated = sum(1 for _, n in per_case if n > 1)
    api_results = sum(1 for c in api.calls if RESULT_MARK in str(c.params.get("text", "")))
    group_calls = [c for c in api.calls if str(c.params.get("chat_id")) == str(CLINICIAN_CHAT)]
    print(f"load test: {args.patients} patients, {args.duration:.0f} s, backend {args.backend}, "
          f"{'embedded' if args.embedded else 'PostgreSQL + Redis'}, Bot API latency {args.latency_ms} ms, "
          f"{args.worker_concurrency} worker processes, sending limit {args.max_messages_per_s:g}/s, "
          f"think time {args.think_ms} ms, clinicians' group {'set' if args.clinician_chat else 'not set'}")
    timed_submits = [at for _, at in stats.submits if at >= stats.measure_from]
    busiest = max((sum(1 for t in timed_submits if at <= t < at + 1) for at in timed_submits), default=0)
    print(f"{'cases submitted':<40}{len(stats.submits):>10}")
    print(f"{'cases answered':<40}{len(stats.results):>10}")
    print(f"{'submitted cases per second':<40}{len(timed_submits) / elapsed:>10.1f}")
    print(f"{'  the most in any one second':<40}{busiest:>10}")
    print(f"{'updates handled by web per second':<40}{stats.updates / elapsed:>10.1f}")
    if stats.updates:
        print(f"{'web process CPU per update (ms)':<40}{1000 * stats.web_cpu_s / stats.updates:>10.2f}")
        print(f"{'web process CPU use (share of a core)':<40}{stats.web_cpu_s / elapsed:>10.2f}")
    if timed_submits:
        print(f"{'worker CPU per case (ms)':<40}{1000 * stats.worker_cpu_s / len(timed_submits):>10.1f}")
    print(f"{'machine CPU busy (cores of ' + str(os.cpu_count()) + ')':<40}{stats.machine_busy_s / elapsed:>10.2f}")
    print(f"{'cases timed (after the warm-up)':<40}{len(overheads):>10}")
    print(f"{'submit -> answer p50 (ms), model excluded':<40}{1000 * _pct(overheads, 0.5):>10.0f}")
    print(f"{'submit -> answer p95 (ms), model excluded':<40}{1000 * _pct(overheads, 0.95):>10.0f}")
    print(f"{'submit -> answer p50 (ms), total':<40}{1000 * _pct(totals, 0.5):>10.0f}")
    timed_from = dt.datetime.fromtimestamp(stats.measure_from, dt.UTC)
    stages = [row for row in stages if row[0] and _utc(row[0]) >= timed_from]
    queued = [(q - s).total_seconds() for s, q, _, _ in stages if s and q]
    sending = [(sent - q).total_seconds() for _, q, sent, _ in stages if q and sent]
    print(f"{'  of which submit -> answer queued p50/p95':<40}{_ms(queued, 0.5):>10.0f}{_ms(queued, 0.95):>8.0f}")
    print(f"{'  of which queued -> sent p50/p95':<40}{_ms(sending, 0.5):>10.0f}{_ms(sending, 0.95):>8.0f}")
    to_model = [(m - s).total_seconds() - ms / 1000 for s, m, ms in analysed if s and m and _utc(s) >= timed_from]
    print(f"{'  submit -> model result, model excluded':<40}{_ms(to_model, 0.5):>10.0f}{_ms(to_model, 0.95):>8.0f}")
    print(f"{'  analyses published more than once':<40}{republished_tasks:>10}")
    print(f"{'  answers sent on a second attempt':<40}{sum(1 for *_, a in stages if a > 1):>10}")
    model_times = [v for vs in model_ms.values() for v in vs] or [0.0]
    print(f"{'model time p50 (ms)':<40}{1000 * statistics.median(model_times):>10.0f}")
    print(f"{'cases in DB (submitted)':<40}{submitted_cases:>10}")
    print(f"{'cases with exactly one answer (DB)':<40}{answered:>10}")
    print(f"{'cases with more than one answer (DB)':<40}{duplicated:>10}")
    print(f"{'answers delivered through the Bot API':<40}{api_results:>10}")
    if args.clinician_chat:
        states = " ".join(f"{status} {n}" for status, n in sorted((str(s), int(n)) for s, n in alerts))
        print(f"{'group: outbox rows by state (DB)':<40}{states:>10}")
        print(f"{'group: messages through the Bot API':<40}{len(group_calls):>10}")
    lost = len(stats.submits) - len(stats.results)
    print(f"{'lost (submitted, never answered)':<40}{lost:>10}")
    for error in stats.errors[:10]:
        print("error:", error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    parser.add_argument("--patients", type=int, default=40, help="simulated patients at once (default 40)")
    parser.add_argument("--backend", choices=["instant", "hf"], default="instant",
                        help="model server backend: instant (no model time) or hf (the tiny real model)")
    parser.add_argument("--latency-ms", type=int, default=50, help="Bot API answer delay (default 50)")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--concurrent-updates", type=int, default=32)
    parser.add_argument("--pipeline-only", action="store_true",
                        help="cases made beforehand, submitted at --rate/s as the Submit button does")
    parser.add_argument("--rate", type=float, default=20, help="cases per second with --pipeline-only")
    parser.add_argument("--pool", type=int, default=32, help="the bot's Bot API connection pool (default 32)")
    parser.add_argument("--ramp", type=float, default=10,
                        help="patients arrive one by one over this many seconds, as people do, rather than all "
                             "at once (default 10; 0: all at once)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds at the start left out of every figure: the patients still arriving, and the "
                             "first task of each worker process paying for imports and connections (default: the "
                             "ramp, at least 5)")
    parser.add_argument("--think-ms", type=int, default=0,
                        help="each patient pauses 0.5-1.5 times this before each update (default 0: none)")
    parser.add_argument("--no-clinician-chat", dest="clinician_chat", action="store_false",
                        help="leave the clinicians' group out (no alerts)")
    parser.add_argument("--embedded", action="store_true", help="SQLite and the folder broker instead")
    parser.add_argument("--max-messages-per-s", type=float, default=1000,
                        help="the bot's sending limit (Telegram's is 30; the fake Bot API has none)")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = max(5.0, args.ramp)
    if not 1 <= args.duration <= 600 or not 1 <= args.patients <= 500:
        parser.error("--duration must be 1-600 s and --patients 1-500")
    if not 0 <= args.ramp < args.duration or not 0 <= args.warmup < args.duration:
        parser.error("--ramp and --warmup must be shorter than --duration")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
