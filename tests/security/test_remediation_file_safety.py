"""Root never changes a file a node's user picks, through a name that user controls
(issue 12 adversarial review, finding 1), on real nodes with a real unprivileged user.

The misconfiguration a fix repairs is often the very one that lets a user steer root: a
user who owns /etc/kubernetes/manifests can swap one of its files for a symbolic link to
/etc/shadow between root's check and root's chmod, or before a restore chmods it back
to the user's own 0777. The races are forced deterministically: a root-owned wrapper
of `chown` or `mktemp` in the node's /usr/local/sbin (first in the runtime's PATH)
does the user's swap, as that user (runuser), at the worst moment. With the fix, every
path root touches (fixed names, glob matches, dirs:, process paths, content files and
their staging names) must sit in directories only root can change, or the fix is
refused with the reason; a restore checks that again, and puts back a mode only on the
very file (device:inode) the run changed, even when the run never recorded "installed".

The reviewer's second PoC (the same swap won by a real racing watcher in C) is left out:
with the fix the files are refused before root looks at them, so it proves nothing the
deterministic test does not, and a real race is neither fast nor reliable in CI.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.fleet.harness import Fleet, FleetNode, NodeSpec, UserSpec, load_spec
from tests.fleet.test_remediate import make_site
from tests.fleet.test_remediate_render import run_on

pytestmark = pytest.mark.fleet

USER = "mallory"
MANIFESTS = "/etc/kubernetes/manifests"
MANIFEST = f"{MANIFESTS}/evil.yaml"
DROPINS = "/etc/ssh/sshd_config.d"
BACKUPS = "/var/lib/nodeward/backups"
MODE_CHECK = ("static_pod_manifests_mode_restricted",)
SSHD_CHECK = ("sshd_password_authentication_disabled",)


def with_user(spec_name: str) -> NodeSpec:
    spec = load_spec(spec_name)
    return dataclasses.replace(spec, users=[*spec.users, UserSpec(USER, locked=False)])


def as_user(node: FleetNode, script: str) -> None:
    node.exec(["runuser", "-u", USER, "--", "sh", "-c", script])


def identity(node: FleetNode, path: str) -> str:
    out = node.exec(["sh", "-c", 'stat -c "%a %U:%G %i" "$1"; sha256sum < "$1"', "sh", path]).stdout
    return " ".join(out.decode().split())


def install_wrapper(node: FleetNode, name: str, script: str) -> None:
    """A root-owned stand-in for a tool, first in the runtime's PATH."""
    node.exec(
        ["sh", "-c", f"cat > /usr/local/sbin/{name} && chmod 0755 /usr/local/sbin/{name}"],
        input=script.encode(),
    )


def rendered(fleet: Fleet, node: FleetNode, tmp_path: Path, checks: tuple[str, ...]) -> str:
    site = make_site(fleet, [node], tmp_path / "site")
    out = tmp_path / "scripts"
    code, stdout, err = site.nodeward("render", "--out", str(out), checks=checks)
    assert code == 0, (stdout[-2000:], err[-2000:])
    return (out / f"{node.name}.sh").read_text()


def manifests_node(fleet: Fleet, name: str, *, user_owns_directory: bool) -> FleetNode:
    node = fleet.start(with_user("k8s_worker"), name=name)
    owner = USER if user_owns_directory else "root"
    node.exec(["mkdir", "-p", MANIFESTS])
    node.exec(["sh", "-c", f"chown {owner}:{owner} {MANIFESTS} && chmod 0755 {MANIFESTS}"])
    node.exec(["sh", "-c", f"rm -f {MANIFESTS}/*; : > {MANIFEST} && chown {USER}:{USER} {MANIFEST}"])
    as_user(node, f"printf 'a: 1\\n' > {MANIFEST} && chmod 0777 {MANIFEST}")
    return node


# Root's chown -h of the manifest is the moment the user wins the race: right after it,
# she renames her file away and puts a link to /etc/shadow under its name.
SWAP_AFTER_CHOWN = f"""#!/bin/sh
for a; do last=$a; done
/bin/chown "$@"; rc=$?
if [ "$last" = {MANIFEST} ] && [ ! -e /root/.swapped ]; then
	: > /root/.swapped
	runuser -u {USER} -- sh -c 'mv {MANIFEST} {MANIFESTS}/.old && ln -s /etc/shadow {MANIFEST}'
fi
exit $rc
"""


def test_a_glob_match_in_a_users_directory_is_refused_and_root_never_chmods_through_her_link(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The review's PoC A: the fix's install then fails its inode check, the EXIT trap
    restores, and the restore used to chmod /etc/shadow to the user's 0777."""
    node = manifests_node(fleet, "globlink", user_owns_directory=True)
    script = rendered(fleet, node, tmp_path, MODE_CHECK)
    install_wrapper(node, "chown", SWAP_AFTER_CHOWN)
    shadow = identity(node, "/etc/shadow")
    manifest = identity(node, MANIFEST)

    done = run_on(node, script, "NW_MODE=apply")
    text = done.stdout.decode() + done.stderr.decode()

    assert identity(node, "/etc/shadow") == shadow, text[-3000:]
    assert identity(node, MANIFEST) == manifest, text[-3000:]  # not even her own file
    assert f"refused\t{MANIFESTS} is not a directory owned by root" in text, text[-3000:]
    assert done.returncode == 0 and "result\tunchanged" in text, text[-3000:]


# The run is killed (SIGKILL, no EXIT trap) right after root's chown of the manifest:
# state "applying", no "installed" list, so the restore has no identity to compare.
KILL_AFTER_CHOWN = f"""#!/bin/sh
for a; do last=$a; done
/bin/chown "$@"; rc=$?
[ "$last" = {MANIFEST} ] && kill -KILL "$PPID"
exit $rc
"""


def test_a_restore_without_an_installed_list_never_chmods_through_a_link(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The fix ran in a directory only root controlled; the run died mid-install. Later
    the directory is handed to the user (the misconfiguration comes back) and she swaps
    her file for a link to /etc/shadow before the operator rolls the run back. The
    restore used to chmod /etc/shadow to 0777 (it skipped every check without
    "installed"); now it checks the name and the file's device:inode, and leaves both
    /etc/shadow and the link alone."""
    node = manifests_node(fleet, "restorelink", user_owns_directory=False)
    script = rendered(fleet, node, tmp_path, MODE_CHECK)
    install_wrapper(node, "chown", KILL_AFTER_CHOWN)
    done = run_on(node, script, "NW_MODE=hold", "NW_RUN_ID=killed-run")
    assert done.returncode == -9 or done.returncode == 137, done.stdout.decode()[-2000:]
    assert node.read_file(f"{BACKUPS}/killed-run/state").strip() == b"applying"
    assert node.exec(["test", "-e", f"{BACKUPS}/killed-run/installed"], check=False).returncode == 1
    node.exec(["rm", "/usr/local/sbin/chown"])

    node.exec(["chown", f"{USER}:{USER}", MANIFESTS])
    as_user(node, f"mv {MANIFEST} {MANIFESTS}/.old && ln -s /etc/shadow {MANIFEST}")
    shadow = identity(node, "/etc/shadow")

    restore = node.exec(["sh", f"{BACKUPS}/killed-run/control.sh", "restore", "manual"], check=False)
    said = restore.stderr.decode()

    assert identity(node, "/etc/shadow") == shadow, said
    assert node.exec(["readlink", MANIFEST]).stdout.decode().strip() == "/etc/shadow"
    assert restore.returncode != 0, said
    assert f"{MANIFEST} not restored: {MANIFESTS} is not a directory owned by root" in said, said
    assert "nothing was restored" in said, said
    # Left for an operator to settle (issue 12 review, finding 5), never silently "rolled back".
    assert node.read_file(f"{BACKUPS}/killed-run/state").strip() == b"restore-refused"


# Root's mktemp of the staging file in the drop-in directory is the moment: the user
# (who owns that directory) replaces the fresh file with a link to /etc/shadow, and
# root then wrote the new sshd configuration through it.
LINK_THE_STAGING_FILE = f"""#!/bin/sh
out=$(/bin/mktemp "$@") || exit $?
case $out in {DROPINS}/.nodeward.*)
	runuser -u {USER} -- sh -c 'rm -f "$1" && ln -s /etc/shadow "$1"' sh "$out" ;;
esac
printf '%s\\n' "$out"
"""


def test_a_content_fix_in_a_users_directory_is_refused_and_never_writes_through_her_link(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start(with_user("weak"), name="stagelink")
    node.exec(["chown", f"{USER}:{USER}", DROPINS])
    script = rendered(fleet, node, tmp_path, SSHD_CHECK)
    install_wrapper(node, "mktemp", LINK_THE_STAGING_FILE)
    shadow = identity(node, "/etc/shadow")
    listing = node.exec(["ls", "-la", DROPINS]).stdout

    done = run_on(node, script, "NW_MODE=apply")
    text = done.stdout.decode() + done.stderr.decode()

    assert identity(node, "/etc/shadow") == shadow, text[-3000:]
    assert node.exec(["ls", "-la", DROPINS]).stdout == listing, text[-3000:]
    assert f"refused\t{DROPINS} is not a directory owned by root" in text, text[-3000:]
