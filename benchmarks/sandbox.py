"""The HubSpot sandbox's own CPU at scale: contacts created and read back by email (issue 25, item 8).

    python benchmarks/sandbox.py --contacts 50000

The sandbox stands in for HubSpot in every scale test, so it must not be the bottleneck: it answers reads by a
unique property (`idProperty=email`, and the uniqueness check of every create) from a lookup built once per write
(`sandbox/hubspot_records.py`), where it scanned every record per input. Creates `--contacts` contacts in batches of
100 and reads 10,000 of them back by email in batches of 100, in this process (no HTTP: the sandbox's work alone),
timed in CPU seconds. Writes the `sandbox <contacts>` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from benchmarks.run import HERE, machine, write_results
from healthsync.sandbox.hubspot import HubSpotSandbox

BATCH = 100
READS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    records = HubSpotSandbox().records
    started = time.process_time()
    for first in range(0, args.contacts, BATCH):
        inputs = [{"properties": {"email": f"user{n}@acme.com"}} for n in range(first, first + BATCH)]
        records.batch_create("contacts", {"inputs": inputs})
    created = time.process_time() - started
    started = time.process_time()
    reads = min(READS, args.contacts)
    for first in range(0, reads, BATCH):
        inputs = [{"id": f"USER{n}@acme.com"} for n in range(first, first + BATCH)]  # emails match in any case
        _, body = records.batch_read("contacts", {"inputs": inputs, "idProperty": "email", "properties": ["email"]})
        if len(body["results"]) != BATCH:
            sys.exit(f"read by email found {len(body['results'])} of {BATCH}")
    read = time.process_time() - started
    key = f"sandbox {args.contacts}"
    lines = [f"<!-- begin {key} -->", f"## Sandbox: {args.contacts:,} HubSpot contacts created, read back by email", ""]
    lines += [f"- {name}: {value}" for name, value in machine()]
    lines += [f"- load at start: {load:.2f}", ""]
    lines += ["| step | calls | CPU s | ms per call |", "|---|---:|---:|---:|"]
    calls = args.contacts // BATCH
    lines.append(f"| batch create (100 each) | {calls} | {created:.2f} | {created / calls * 1000:.1f} |")
    lines.append(
        f"| batch read by email (100 each) | {reads // BATCH} | {read:.2f} | {read / (reads // BATCH) * 1000:.1f} |"
    )
    lines.append(f"<!-- end {key} -->")
    write_results(args.results, "\n".join(lines) + "\n", key)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
