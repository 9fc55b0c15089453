"""Benchmark: throughput and latency of `POST /v1/analyze` with dynamic batching on and off.

    python -m model_server.bench --model DIR [--batch 8] [--concurrency 1,4,16] [--max-new-tokens 64]
    python -m model_server.bench --url http://127.0.0.1:8090      # a running server, as configured
    python -m model_server.bench --fake-remote 1.0 [--burst 32] [--limits 1,8,64]

With `--fake-remote SECONDS`, a fake OpenAI-compatible server (`model_server.fake_openai`, a real aiohttp server
on 127.0.0.1) answers every chat completion after SECONDS, and the model server runs the `openai` backend
against it with each MODEL_MAX_CONCURRENCY in `--limits`; one burst of `--burst` analyses is sent to each.

With `--model`, the model is loaded once and served in process twice over real HTTP on 127.0.0.1: with
`max_batch_size=1` (batching off) and with `max_batch_size=--batch` (on); at each concurrency level both are
measured back to back. A level is a closed loop: that many clients, each sending its next request as soon as
the previous one is answered. Prints a table; it is a script that reports figures, not a test that asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from PIL import Image

from model_server.settings import Settings


@dataclass
class Level:
    """The figures for one concurrency level."""

    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    mean_batch: float

    @property
    def throughput(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def photo(seed: int, size: int = 480) -> bytes:
    """A skin-toned textured JPEG, different for every seed."""
    rng = random.Random(seed)
    width, height = size, size * 3 // 4
    channels = [
        Image.frombytes("L", (width, height), rng.randbytes(width * height)).point(
            lambda v, b=base: b - 40 + v * 80 // 255
        )
        for base in (200, 150, 120)
    ]
    buffer = io.BytesIO()
    Image.merge("RGB", channels).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


async def _one(session: aiohttp.ClientSession, url: str, image: bytes, index: int) -> tuple[float, bool, int]:
    form = aiohttp.FormData()
    request = {"question": f"Is this serious? ({index})", "answers": {"duration_days": index % 30}}
    form.add_field("request", json.dumps(request), content_type="application/json")
    form.add_field("image", image, filename="photo.jpg", content_type="image/jpeg")
    started = time.perf_counter()
    async with session.post(f"{url}/v1/analyze", data=form) as response:
        body = await response.json()
    elapsed = (time.perf_counter() - started) * 1000
    ok = response.status == 200
    return elapsed, ok, int(body.get("timings", {}).get("batch_size", 0)) if ok else 0


async def run_level(url: str, concurrency: int, requests: int, images: list[bytes]) -> Level:
    """`requests` requests from `concurrency` closed-loop clients."""
    counter = iter(range(requests))
    latencies: list[float] = []
    batches: list[int] = []
    errors = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for index in counter:
            elapsed, ok, batch = await _one(session, url, images[index % len(images)], index)
            if ok:
                latencies.append(elapsed)
                batches.append(batch)
            else:
                errors += 1

    timeout = aiohttp.ClientTimeout(total=600)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    mean_batch = statistics.fmean(batches) if batches else 0.0
    return Level(concurrency, requests, seconds, latencies, errors, mean_batch)


async def measure(url: str, label: str, concurrency: int, requests: int, images: list[bytes]) -> Level:
    """One level against one server, reported on stderr as it finishes."""
    level = await run_level(url, concurrency, requests or max(16, 3 * concurrency), images)
    print(
        f"  {label:>8} concurrency {concurrency:>3}: {level.throughput:6.2f} req/s, "
        f"p50 {level.percentile(0.5):8.0f} ms, p95 {level.percentile(0.95):8.0f} ms, "
        f"mean batch {level.mean_batch:4.1f}, errors {level.errors}",
        file=sys.stderr,
        flush=True,
    )
    return level


async def measure_server(url: str, levels: list[int], requests: int, images: list[bytes]) -> list[Level]:
    """Every level against a running server."""
    await run_level(url, 2, 4, images)  # warm-up: first-call costs stay out of the figures
    return [await measure(url, "server", concurrency, requests, images) for concurrency in levels]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve_and_measure(args: argparse.Namespace, levels: list[int], images: list[bytes]) -> dict[str, list[Level]]:
    """Load the model once and serve it twice, batching off and on; measure both at each level in turn.

    The two modes of a level run back to back, so that a change in the machine's background load (a shared
    machine) affects both alike. Only one server is driven at a time; they share the loaded model.
    """
    from model_server.app import init_app
    from model_server.backends.hf import HFBackend

    backend = HFBackend(
        Path(args.model), device=args.device, max_new_tokens=args.max_new_tokens, threads=args.threads or None
    )
    backend.load()
    modes = {"off": 1, "on": args.batch}
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    try:
        for label, batch in modes.items():
            settings = Settings(
                backend="hf",
                path=Path(args.model),
                max_batch_size=batch,
                max_wait_ms=args.max_wait_ms,
                max_queue=1024,
                request_timeout_s=3600,
                max_new_tokens=args.max_new_tokens,
            )
            runner = web.AppRunner(init_app(settings, backend), access_log=None)
            await runner.setup()
            runners.append(runner)
            port = _free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            urls[label] = f"http://127.0.0.1:{port}"
            await run_level(urls[label], 2, 4, images)  # warm-up
        results: dict[str, list[Level]] = {label: [] for label in modes}
        for concurrency in levels:
            for label in modes:
                results[label].append(await measure(urls[label], label, concurrency, args.requests, images))
    finally:
        for runner in runners:
            await runner.cleanup()
        backend.close()
    return results


async def fake_remote(
    delay_s: float, burst: int, limits: list[int], images: list[bytes]
) -> list[tuple[int, Level, int]]:
    """One burst of `burst` analyses through the `openai` backend to a fake remote that answers after `delay_s`,
    for each concurrency limit. Returns (limit, figures, most calls the remote saw in flight at once)."""
    from model_server.app import init_app
    from model_server.backends.openai import OpenAIBackend
    from model_server.fake_openai import FakeOpenAI

    results = []
    for limit in limits:
        fake = FakeOpenAI(delay_s=delay_s)
        remote = web.AppRunner(fake.app(), access_log=None)
        await remote.setup()
        remote_port = _free_port()
        await web.TCPSite(remote, "127.0.0.1", remote_port).start()
        backend = OpenAIBackend(f"http://127.0.0.1:{remote_port}/v1", fake.model, max_connections=limit)
        settings = Settings(backend="openai", max_concurrency=limit, max_queue=4096, request_timeout_s=3600)
        runner = web.AppRunner(init_app(settings, backend), access_log=None)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            level = await run_level(f"http://127.0.0.1:{port}", burst, burst, images)
        finally:
            await runner.cleanup()
            await remote.cleanup()
        print(f"  limit {limit:>4}: {burst} analyses in {level.seconds:.2f} s", file=sys.stderr, flush=True)
        results.append((limit, level, fake.max_in_flight))
    return results


def print_remote_table(results: list[tuple[int, Level, int]], delay_s: float) -> None:
    """The fake-remote figures as a Markdown table."""
    print("| MODEL_MAX_CONCURRENCY | analyses | wall s | p50 ms | p95 ms | most in flight at the remote | errors |")
    print("|---|---|---|---|---|---|---|")
    for limit, level, in_flight in results:
        print(
            f"| {limit} | {level.requests} | {level.seconds:.2f} | {level.percentile(0.5):.0f} | "
            f"{level.percentile(0.95):.0f} | {in_flight} | {level.errors} |"
        )
    print(f"\nthe fake remote answers each call after {delay_s:g} s")


def print_table(results: dict[str, list[Level]], batch: int) -> None:
    """The figures as a Markdown table, with the throughput ratio when both modes ran."""
    modes = list(results)
    header = ["concurrency"]
    for mode in modes:
        name = {"off": "off", "on": f"on (max {batch})"}.get(mode, mode)
        header += [f"{name} req/s", f"{name} p50 ms", f"{name} p95 ms", f"{name} mean batch"]
    if len(modes) == 2:
        header.append("throughput on/off")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for index, level in enumerate(results[modes[0]]):
        row = [str(level.concurrency)]
        for mode in modes:
            lv = results[mode][index]
            row += [f"{lv.throughput:.2f}", f"{lv.percentile(0.5):.0f}", f"{lv.percentile(0.95):.0f}"]
            row.append(f"{lv.mean_batch:.1f}")
        if len(modes) == 2:
            row.append(f"{results['on'][index].throughput / max(level.throughput, 1e-9):.2f}x")
        print("| " + " | ".join(row) + " |")
    if len(modes) == 2:
        busiest_on, busiest_off = results["on"][-1], results["off"][-1]
        p95 = busiest_on.percentile(0.95)
        line = f"\nat concurrency {busiest_on.concurrency}: p95 with batching {p95:.0f} ms"
        line += f" = {p95 / busiest_off.percentile(0.95):.2f}x the p95 without batching"
        if results["off"][0].concurrency == 1:
            single = results["off"][0].percentile(0.5)
            line += f", {p95 / single:.1f}x the single-request latency ({single:.0f} ms: batching off, p50 at 1)"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_server.bench", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--model", help="a local image-text-to-text model folder, served in process")
    target.add_argument("--url", help="a running model server, e.g. http://127.0.0.1:8090")
    target.add_argument(
        "--fake-remote", type=float, metavar="SECONDS", help="the openai backend against a fake remote this slow"
    )
    parser.add_argument("--limits", default="1,8,64", help="--fake-remote: MODEL_MAX_CONCURRENCY values")
    parser.add_argument("--burst", type=int, default=32, help="--fake-remote: analyses sent at once (default 32)")
    parser.add_argument("--batch", type=int, default=8, help="max_batch_size with batching on (default 8)")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels (default 1,4,16)")
    parser.add_argument("--requests", type=int, default=0, help="requests per level (default max(16, 3 x level))")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    images = [photo(seed) for seed in range(8)]
    if args.fake_remote is not None:
        limits = [int(x) for x in args.limits.split(",") if x.strip()]
        print_remote_table(asyncio.run(fake_remote(args.fake_remote, args.burst, limits, images)), args.fake_remote)
        return 0
    if args.url:
        results = {"server": asyncio.run(measure_server(args.url.rstrip("/"), levels, args.requests, images))}
    else:
        results = asyncio.run(serve_and_measure(args, levels, images))
    load = os.getloadavg()
    print(
        f"\nmodel: {args.model or args.url}; max_new_tokens {args.max_new_tokens}; cpus {os.cpu_count()}; "
        f"load average at the end {load[0]:.2f}\n"
    )
    print_table(results, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
