"""`nodeward render --out DIR`: each node's plan as standalone POSIX sh scripts to review.

One script per node (<node>.sh, every fix in order) and one per fix
(<node>/NN-<fix>.sh). They run as root later, by hand or from a pipeline, so the
directories are private (0700, ours, not group/other-writable) and every file is
written atomically with mode 0700.
"""

from __future__ import annotations

from pathlib import Path

from agent.fileio import write_atomic
from agent.private_dir import ensure_private_dir
from agent.remediate.plan import NodePlan


def write_scripts(out: Path, plan: NodePlan) -> list[str]:
    """Write the node's scripts under `out`; the names written, relative to `out`."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in plan.node.name).lstrip(".") or "node"
    if not plan.fixes:
        return []
    folder = out / safe
    ensure_private_dir(folder)  # before anything is written: a refused folder leaves no script
    write_atomic(out / f"{safe}.sh", plan.script("default"), mode=0o700)
    written = [f"{safe}.sh"]
    for index, fix in enumerate(plan.fixes):
        name = f"{index + 1:02d}-{fix.manifest.id}.sh"
        write_atomic(folder / name, plan.fix_script(index), mode=0o700)
        written.append(f"{safe}/{name}")
    return written
