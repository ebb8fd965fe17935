"""Lab SM-DP+ throughput: downloads per second with N concurrent RSP sessions.

One download, as the SM-DP+ sees it: initiateAuthentication -> authenticateClient ->
getBoundProfilePackage (the bound package built for real: ECKA, KDF, SCP03t over the whole
profile package). The server runs in its own process (``esimflow lab smdp serve``), so its
CPU time is measured apart from the client's. Each session is driven by esimflow's ES9+
client and answered by an in-process virtual eUICC (``rsplab.euicc``, one per session, its
ES10 functions called directly: real signatures, no APDU transport).

    .venv/bin/python bench/bench_smdp.py [--sessions 20] [--downloads 200] [--size 30720]

Prints downloads per second, per-download and per-function latencies, and the server's CPU
milliseconds per download (which bounds what one core can serve).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sgp22 import codec
from sgp22.es9 import Es9Client, Es9Config
from sgp22.es10_download import encode_authenticate_server, encode_prepare_download
from sgp22.es10_session_types import AuthenticateServerRequest, PrepareDownloadRequest
from sgp22.identifiers import Iccid

from rsplab import pki
from rsplab.euicc import VirtualEuicc
from rsplab.smdp.inventory import Inventory
from rsplab.smdp.profiles import NewProfile

from process_stats import cpu_seconds  # bench/, the script's own directory

FUNCTIONS = ("initiateAuthentication", "authenticateClient", "getBoundProfilePackage")


def iccid_for(number: int) -> str:
    return Iccid.with_check_digit(f"894999{number:013d}").digits


def start_server(identities: Path, db: Path) -> tuple[subprocess.Popen, int]:
    esimflow = Path(sys.executable).parent / "esimflow"
    process = subprocess.Popen(
        [str(esimflow), "lab", "smdp", "serve", "--identities", str(identities), "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    process.stdout.readline()
    port = int(process.stdout.readline().rsplit(":", 1)[1])
    return process, port


async def one_download(client: Es9Client, card: VirtualEuicc, matching_id: str, timings: dict) -> None:
    card.reset()
    challenge = codec.decode("GetEuiccChallengeResponse", card.es10.handle(bytes.fromhex("BF2E00")))["euiccChallenge"]
    info1 = card.es10.handle(bytes.fromhex("BF2000"))

    started = time.perf_counter()
    initiate = await client.initiate_authentication(challenge, info1)
    timings["initiateAuthentication"].append(time.perf_counter() - started)

    answer = card.es10.handle(encode_authenticate_server(
        AuthenticateServerRequest(initiate.server_authentication(), matching_id)))
    started = time.perf_counter()
    authenticated = await client.authenticate_client(initiate.transaction_id, answer)
    timings["authenticateClient"].append(time.perf_counter() - started)

    prepared = card.es10.handle(encode_prepare_download(PrepareDownloadRequest(
        authenticated.smdp_signed2, authenticated.smdp_signature2, authenticated.smdp_certificate)))
    started = time.perf_counter()
    await client.get_bound_profile_package(initiate.transaction_id, prepared)
    timings["getBoundProfilePackage"].append(time.perf_counter() - started)


async def run_sessions(address: str, config: Es9Config, cards: list[VirtualEuicc], matching_ids: list[str],
                       timings: dict, durations: list[float]) -> None:
    queue = list(reversed(matching_ids))

    async def session(card: VirtualEuicc) -> None:
        async with Es9Client(address, config) as client:
            while queue:
                matching_id = queue.pop()
                started = time.perf_counter()
                await one_download(client, card, matching_id, timings)
                durations.append(time.perf_counter() - started)

    await asyncio.gather(*(session(card) for card in cards))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent RSP sessions (one eUICC each)")
    parser.add_argument("--downloads", type=int, default=200, help="downloads to time")
    parser.add_argument("--warmup", type=int, default=20, help="downloads before timing starts")
    parser.add_argument("--size", type=int, default=30 * 1024, help="profile package size in bytes")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-smdp-"))
    server = None
    try:
        identities = workdir / "pki"
        pki.generate(identities)
        if args.sessions > 1:
            pki.add_euiccs(identities, count=args.sessions - 1)
        lab = pki.load(identities)
        db = workdir / "smdp.db"
        with Inventory(db) as inventory:
            matching_ids = [inventory.add_profile(NewProfile(iccid=iccid_for(n), size=args.size)).matching_id
                            for n in range(args.warmup + args.downloads)]
        server, port = start_server(identities, db)
        address = f"localhost:{port}"
        config = Es9Config(ca_file=lab.ca_file)
        cards = [VirtualEuicc(identities, None, eid=eid) for eid in lab.all_eids()[:args.sessions]]

        timings = {name: [] for name in FUNCTIONS}
        asyncio.run(run_sessions(address, config, cards, matching_ids[:args.warmup], timings, []))
        timings = {name: [] for name in FUNCTIONS}
        durations: list[float] = []
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        started = time.perf_counter()
        asyncio.run(run_sessions(address, config, cards, matching_ids[args.warmup:], timings, durations))
        wall = time.perf_counter() - started
        server_cpu = cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    done = len(durations)
    print(f"lab SM-DP+: {done} downloads of a {args.size} B profile, {args.sessions} concurrent sessions, "
          f"{os.cpu_count()} CPUs")
    print(f"  throughput        {done / wall:8.1f} downloads/s  ({wall:.2f} s wall)")
    print(f"  download latency  p50 {1000 * statistics.median(durations):7.1f} ms   "
          f"p95 {1000 * percentile(durations, 0.95):7.1f} ms   max {1000 * max(durations):7.1f} ms")
    for name in FUNCTIONS:
        values = timings[name]
        print(f"  {name:<23} p50 {1000 * statistics.median(values):7.1f} ms   p95 {1000 * percentile(values, 0.95):7.1f} ms")
    print(f"  server CPU        {1000 * server_cpu / done:8.2f} ms per download "
          f"(at most {done / server_cpu:.0f} downloads/s per core)")
    print(f"  client CPU        {1000 * client_cpu / done:8.2f} ms per download (ES9+ client and virtual eUICCs)")


if __name__ == "__main__":
    main()
