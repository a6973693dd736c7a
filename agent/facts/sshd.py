"""sshd's effective configuration, from `sshd -T -C ...` run on the node.

`sshd -T` prints the configuration sshd would really use, after Include files,
drop-ins, defaults and compiled-in values: reading sshd_config ourselves misses
drop-ins that win over the main file (cloud images ship `50-cloud-init.conf` with
`PasswordAuthentication yes`, which beats a `no` in sshd_config). Plain `sshd -T`
ignores Match blocks; with `-C user=,host=,addr=,laddr=,lport=` it evaluates them for
the connection we actually made (Lynis issue #548), so the answer is the operator's
effective view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts.model import Absent, FactParseError, FactValue, Observation, RawSection, Unavailable

# sshd prints lower-case keywords. Keep the whole line bounded: hostile output could
# hold a 10 MB "value" and we only ever compare short tokens.
_LINE = re.compile(r"^([a-z0-9]+) ?(.*)$")
_MAX_VALUE = 4096

# Keywords sshd prints once per value (sshd -T repeats the line).
MULTI_VALUED = frozenset(
    {
        "port", "listenaddress", "hostkey", "acceptenv", "allowusers", "denyusers",
        "allowgroups", "denygroups", "subsystem", "setenv", "include", "hostcertificate",
        "authorizedkeysfile", "permitopen", "permitlisten", "channeltimeout",
    }
)  # fmt: skip

SCRIPT = r"""
command -v sshd >/dev/null 2>&1 || { echo "sshd is not installed" >&2; exit 127; }
nw_c="user=$NW_USER,host=$NW_CLIENT_ADDR,addr=$NW_CLIENT_ADDR"
sshd -T -C "$nw_c,laddr=$NW_SERVER_ADDR,lport=$NW_SERVER_PORT"
"""


@dataclass(frozen=True, slots=True)
class SshdConfig:
    options: Mapping[str, tuple[str, ...]]
    source: str  # the exact evaluation, e.g. "sshd -T -C user=scanner,addr=10.0.0.5,..."
    unknown_lines: int = 0  # lines that were not `keyword value`: counted, ignored

    def lookup(self, path: str) -> Observation | None:
        key = path.lower()
        values = self.options.get(key)
        if values is None:
            return None
        value: object = values if key in MULTI_VALUED else values[0]
        return Observation(value=value, source=self.source)


def parse_sshd_t(text: str, *, source: str) -> SshdConfig:
    options: dict[str, list[str]] = {}
    unknown = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            unknown += 1
            continue
        key, value = match.group(1), match.group(2)[:_MAX_VALUE]
        options.setdefault(key, []).append(value)
        if number > 100_000:
            raise FactParseError("sshd", number, "more lines than any sshd -T prints")
    if not options:
        raise FactParseError("sshd", None, "sshd -T printed no configuration")
    return SshdConfig(options={k: tuple(v) for k, v in options.items()}, source=source, unknown_lines=unknown)


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    if section.exit_code == 127:
        return Absent("sshd is not installed")
    source = (
        f"sshd -T -C user={context.get('user', '?')},addr={context.get('client_addr', '?')}"
        f",lport={context.get('server_port', '?')}"
    )
    if section.exit_code != 0:
        return Unavailable(f"sshd -T failed (exit {section.exit_code}): {section.error_text}")
    if section.truncated:
        return Unavailable("sshd -T output exceeded the size cap")
    try:
        return parse_sshd_t(section.text, source=source)
    except FactParseError as exc:
        return Unavailable(str(exc))
