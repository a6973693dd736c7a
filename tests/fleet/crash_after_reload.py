"""Test-only entry point: `nodeward` that SIGKILLs itself right after a node's reload.

reliability.md section 7: the bastion dies with the change live and the node's
rollback timer armed; only the node can restore itself. Production `nodeward` has no
hook for this at all (no variable, file or flag): this wrapper, which lives only in
the test tree, replaces verify_new_connection, the first step the apply state machine
takes after the node reported its reload (the script's `result held`), with a SIGKILL.
Run it as `python tests/fleet/crash_after_reload.py <nodeward arguments>`.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

PROGRAM = (sys.executable, str(Path(__file__).resolve()))


def _die(*_args: object, **_kwargs: object) -> tuple[bool, str]:
    os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind, like a power cut
    raise AssertionError("unreachable")


def main() -> None:
    # Run by path: the checkout's own package must win over any other on sys.path.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from agent.remediate import apply

    # Fail loudly if the state machine stops calling it by this name: the test would
    # otherwise see a normal run and fail for the wrong reason.
    assert callable(apply.verify_new_connection), "verify_new_connection moved"
    apply.verify_new_connection = _die
    from agent.cli import main as nodeward

    sys.argv[0] = "nodeward"
    nodeward()


if __name__ == "__main__":
    main()
