"""`python -m bench [--quick] [--only SECTION ...]` (`make bench`, `make bench QUICK=1`): every figure of
issue 14 as a ratio against a raw-Temporal baseline measured in the same run on the same dev server.

One dev server for the whole run; a project worker and a raw worker share it for sections 1-3, the API
joins for section 2, and section 5 starts fresh workers. A section that fails prints why and the rest go on.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import actions, ingest, memory, nudge_lateness, report
from bench.stack import (
    Figure,
    api,
    child_pid,
    journal,
    project_worker,
    raw_worker,
    say,
    server_address,
    settle,
    start_server,
)

SECTIONS = ["nudges", "ingest", "actions", "report", "memory"]


async def section(name: str, figures: list[Figure], work: Callable[[], Awaitable[list[Figure]]]) -> None:
    say(f"== {name}")
    began = time.monotonic()
    try:
        rows = await work()
    except Exception as err:
        traceback.print_exc()
        rows = [Figure(name, "failed", "-", "-", "-", f"ERROR: {type(err).__name__}: {err}")]
    for row in rows:
        say(f"   {row.name}: {row.ours} vs {row.baseline} -> {row.ratio}  {row.verdict}")
    say(f"== {name} took {time.monotonic() - began:.0f} s")
    figures += rows


async def main(quick: bool, only: list[str]) -> list[Figure]:
    figures: list[Figure] = []
    say(f"bench ({'QUICK' if quick else 'full'}): starting the Temporal dev server")
    env = await start_server()
    server = child_pid("temporal")
    address = server_address(env)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            work = Path(tmp)
            engine = journal(work)
            async with (
                project_worker(address, work, "bench-journeys") as ours,
                raw_worker(address, work, "bench-raw") as raw,
            ):
                pids = [p for p in (ours.pid, raw.pid, server) if p]
                if "nudges" in only:
                    n, window = (200, 20.0) if quick else (1000, 60.0)

                    async def nudges() -> list[Figure]:
                        result = await nudge_lateness.measure(
                            env.client, engine, work, "bench-journeys", "bench-raw", n, window
                        )
                        return nudge_lateness.figures(result, n, window)

                    await section("1. due-nudge lateness", figures, nudges)
                    await settle(pids)
                if "ingest" in only:

                    async def ingesting() -> list[Figure]:
                        async with api(address, work, "bench-journeys") as url:
                            rates = await ingest.measure(
                                env.client, url, "bench-raw", rounds=2 if quick else 4, per_round=160 if quick else 400
                            )
                        return ingest.figures(rates)

                    await section("2. HTTP ingest", figures, ingesting)
                    await settle(pids)
                if "actions" in only:

                    async def counting() -> list[Figure]:
                        return actions.figures(await actions.measure(env.client, work, "bench-journeys", engine))

                    await section("3. billable actions per journey", figures, counting)
            if "report" in only:

                async def reporting() -> list[Figure]:
                    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
                    return report.figures(await asyncio.to_thread(report.measure, work, sizes))

                await section("4. recovery report", figures, reporting)
            if "memory" in only:

                async def footprint() -> list[Figure]:
                    steps = [1_000] if quick else [2_000, 10_000]
                    async with (
                        project_worker(address, work, "bench-mem") as ours,
                        raw_worker(address, work, "bench-mem-raw") as raw,
                    ):
                        if server is None:
                            raise RuntimeError("the dev server's process was not found")
                        result = await memory.measure(
                            env.client, engine, "bench-mem", "bench-mem-raw", ours.pid, raw.pid, server, steps
                        )
                    return memory.figures(result)

                await section("5. memory per open journey", figures, footprint)
    finally:
        await env.shutdown()
    return figures


def summary(figures: list[Figure]) -> str:
    lines = ["", "| section | figure | this project | baseline | ratio | verdict |", "|---|---|---|---|---|---|"]
    lines += [f"| {f.section} | {f.name} | {f.ours} | {f.baseline} | {f.ratio} | {f.verdict} |" for f in figures]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: everything in under 5 minutes on 2 cores")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="run these sections only")
    args = parser.parse_args()
    began = time.monotonic()
    rows = asyncio.run(main(args.quick, args.only))
    print(summary(rows))
    print(
        f"\n{len(rows)} figures in {time.monotonic() - began:.0f} s; "
        f"{sum(r.verdict.startswith('PASS') for r in rows)} PASS, "
        f"{sum(r.verdict.startswith('MISS') for r in rows)} MISS, "
        f"{sum(r.verdict.startswith('ERROR') for r in rows)} ERROR",
        flush=True,
    )
    # Leave without interpreter teardown: the SDK's native runtime was seen to abort it (as workers/worker.py notes).
    sys.stderr.flush()
    os._exit(1 if any(r.verdict.startswith("ERROR") for r in rows) else 0)
