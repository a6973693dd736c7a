"""Scan N real sshd nodes on loopback and print throughput and per-node cost.

    .venv/bin/python -m bench.fleet_scan --nodes 20 --parallel 10 --rounds 3

Prints nodes/second, client CPU milliseconds per node (user+system of this process,
which does all the SSH crypto and parsing), and connections and exec channels per
node as counted by each node's own sshd log. Numbers, not assertions: performance is
reported, never tested with timings.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from agent.catalog import load_catalog
from agent.inventory.loader import load_inventory
from agent.scan import ScanOptions, scan
from agent.transport.options import SshOptions
from tests.fleet.harness import Fleet, FleetKeys
from tests.fleet.scanutil import Target, ansible_inventory


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spec", default="debian12_default")
    parser.add_argument("--check", default="", help="only checks whose id matches this glob (default: all)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nodeward-bench-") as tmp:
        work = Path(tmp)
        keys = FleetKeys(work / "keys")
        fleet = Fleet(work / "fleet", keys)
        try:
            started = time.monotonic()
            nodes = fleet.start_many(args.spec, args.nodes, prefix="bench")
            print(f"started {len(nodes)} sshd nodes in {time.monotonic() - started:.2f} s")
            inventory_path = ansible_inventory(
                work / "inventory.yaml", [Target(n.name, n.address, n.port) for n in nodes], keys.bastion
            )
            known = fleet.known_hosts(nodes, work / "known_hosts")
            empty_config = work / "ssh_config"
            empty_config.write_text("")
            inventory = load_inventory(str(inventory_path))
            checks = load_catalog().select([args.check] if args.check else [])
            options = ScanOptions(
                parallel=args.parallel,
                ssh=SshOptions(
                    ssh_config_file=str(empty_config), known_hosts_files=(str(known),), use_agent=False
                ),
            )
            rates, cpu_per_node = [], []
            for round_number in range(1, args.rounds + 1):
                wall0, cpu0 = time.monotonic(), cpu_seconds()
                run = scan(inventory, checks, options)
                wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
                scanned = sum(1 for n in run.nodes if n.scanned)
                rates.append(scanned / wall)
                cpu_per_node.append(cpu * 1000 / len(nodes))
                print(
                    f"round {round_number}: {scanned}/{len(nodes)} nodes scanned in {wall:.2f} s = "
                    f"{rates[-1]:.1f} nodes/s, client CPU {cpu_per_node[-1]:.1f} ms/node"
                )
            connections = [n.count_log(r"Connection from 127\.0\.0\.1") / args.rounds for n in nodes]
            execs = [n.count_log(r"req exec") / args.rounds for n in nodes]
            print(
                f"summary: nodes={len(nodes)} parallel={args.parallel} checks={len(checks)} "
                f"nodes/s median={statistics.median(rates):.1f} "
                f"client_cpu_ms/node median={statistics.median(cpu_per_node):.1f} "
                f"connections/node={statistics.mean(connections):.2f} execs/node={statistics.mean(execs):.2f}"
            )
        finally:
            fleet.stop_all()


if __name__ == "__main__":
    main()
