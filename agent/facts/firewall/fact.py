"""The firewall fact: live netfilter rules of every backend, the managers, and what is
persisted for the next boot.

One gather section reads, without changing anything:

* nftables: `nft list tables`, then `nft -j list table` for every table that is not
  kube-proxy's or a CNI's (their tables are only named: a large cluster's kube-proxy
  table is megabytes we never judge) and not an xtables nat/raw/mangle table;
* iptables and ip6tables filter, raw and mangle tables, legacy AND nf_tables variants.
  Legacy tables are read only when /proc/net/ip_tables_names lists them:
  `iptables-legacy-save -t filter` on a host that never used legacy would load
  iptable_filter and create the table; nf_tables-variant tables only when nft lists them;
* ufw (`ufw status verbose`, /etc/ufw/ufw.conf, /etc/default/ufw) and firewalld
  (`--state`, `--get-default-zone`, runtime and permanent `--list-all-zones`);
* systemd unit states when systemd runs (else the judgement uses process and ruleset
  evidence);
* persisted rulesets: /etc/nftables.conf and /etc/sysconfig/nftables.conf, checked with
  `nft -c -f` and loaded into a throwaway network namespace (`unshare -n`) to list them as
  nft itself normalises them, so "persisted versus live" compares meaning, not text;
  /etc/iptables/rules.v4|v6, /etc/sysconfig/iptables|ip6tables parsed as iptables-save.
  Loading into a private namespace touches no ruleset of the node; like `nft -c` it may
  make the kernel load netfilter expression modules.

The section carries its own sub-sections, framed by a marker the node draws at random
(od of /dev/urandom), so rule comments or file contents can never forge a boundary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts.firewall import iptables, nft
from agent.facts.firewall.managers import (
    FirewalldInfo,
    UfwConfig,
    UfwStatus,
    parse_shell_assignments,
    parse_ufw_status,
    parse_units,
    parse_zones,
)
from agent.facts.firewall.model import Chain, table_owner
from agent.facts.firewall.persisted import parse_persisted
from agent.facts.firewall.state import FirewallState, NftTable
from agent.facts.model import FactParseError, FactValue, RawSection, Unavailable

SCRIPT = r"""
nw_m="nwfw-$(od -An -N12 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n')"
if [ "$nw_m" = nwfw- ]; then nw_m="nwfw-$$-$(date +%s%N 2>/dev/null)"; fi
printf '%s\n' "$nw_m"
nw_e=/dev/null
if [ -n "$NW_TMP" ]; then nw_e="$NW_TMP/fw.err"; fi
exec 5>&1
nw_sub() {
  nw_n=$1; nw_cap=$2; shift 2
  printf '\n%s begin %s\n' "$nw_m" "$nw_n"
  nw_rc=$( { { "$@" 2>"$nw_e" </dev/null; echo $? >&6; } | head -c "$nw_cap" >&5; } 6>&1 )
  printf '\n%s stderr %s\n' "$nw_m" "$nw_n"
  if [ "$nw_e" != /dev/null ]; then head -c 2048 "$nw_e"; fi
  printf '\n%s end %s %s\n' "$nw_m" "$nw_n" "${nw_rc:-255}"
}
nw_have() { command -v "$1" >/dev/null 2>&1; }
nw_nft_loaded() {
  # Asking nft would make the kernel load nf_tables: only ask when it is there already.
  [ -e /sys/module/nf_tables ] && return 0
  [ -r /proc/modules ] || return 0
  grep -q '^nf_tables ' /proc/modules && return 0
  grep -q '/nf_tables.ko' "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null
}
nw_fw_env() {
  if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
  if nw_nft_loaded; then echo nf_tables=yes; else echo nf_tables=no; fi
  for nw_n in ip_tables_names ip6_tables_names; do
    if [ -r "/proc/net/$nw_n" ]; then echo "$nw_n=$(tr '\n' ' ' <"/proc/net/$nw_n")"; fi
  done
  if [ -e /proc/net/if_inet6 ]; then echo ipv6_stack=yes; else echo ipv6_stack=no; fi
  echo "ipv6_disable=$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null)"
  echo "route4=$(ip -4 route show default 2>/dev/null | head -n 1)"
  echo "route6=$(ip -6 route show default 2>/dev/null | head -n 1)"
  if pgrep -x firewalld >/dev/null 2>&1; then echo firewalld_process=yes; else echo firewalld_process=no; fi
}
nw_fw_units() {
  for nw_u in nftables firewalld ufw netfilter-persistent iptables ip6tables; do
    nw_a=$(systemctl is-active "$nw_u.service" 2>/dev/null | head -n 1)
    echo "$nw_u $nw_a $(systemctl is-enabled "$nw_u.service" 2>/dev/null | head -n 1)"
  done
}
nw_fw_variant() {
  if nw_have "$1-$2-save"; then echo "$1-$2-save"; return; fi
  if nw_have "$1-save"; then
    if "$1" --version 2>/dev/null | grep -q nf_tables; then nw_v=nft; else nw_v=legacy; fi
    if [ "$nw_v" = "$2" ]; then echo "$1-save"; return; fi
  fi
  echo "$1-$2-save"
}
nw_sub env 8192 nw_fw_env
if [ -d /run/systemd/system ] && nw_have systemctl; then nw_sub units 8192 nw_fw_units; fi
if nw_nft_loaded; then
  nw_sub nft_tables 65536 nft list tables
  nft list tables 2>/dev/null | head -n 256 | while read -r nw_k nw_f nw_t nw_x; do
    [ "$nw_k" = table ] || continue
    case $nw_t in kube*|cilium*|calico*|cali*|flannel*|antrea*|weave*) continue ;; esac
    case $nw_f:$nw_t in ip:nat|ip6:nat|ip:raw|ip6:raw|ip:mangle|ip6:mangle) continue ;; esac
    case $nw_f:$nw_t in ip:security|ip6:security) continue ;; esac
    nw_sub "nft_table:$nw_f/$nw_t" 16777216 nft -j list table "$nw_f" "$nw_t"
  done
  for nw_t in filter raw mangle; do
    if nft list tables 2>/dev/null | grep -qx "table ip $nw_t"; then
      nw_sub "ipt_nft4:$nw_t" 16777216 "$(nw_fw_variant iptables nft)" -t "$nw_t"
    fi
    if nft list tables 2>/dev/null | grep -qx "table ip6 $nw_t"; then
      nw_sub "ipt_nft6:$nw_t" 16777216 "$(nw_fw_variant ip6tables nft)" -t "$nw_t"
    fi
  done
fi
for nw_t in filter raw mangle; do
  if grep -qx "$nw_t" /proc/net/ip_tables_names 2>/dev/null; then
    nw_sub "ipt_legacy4:$nw_t" 16777216 "$(nw_fw_variant iptables legacy)" -t "$nw_t"
  fi
  if grep -qx "$nw_t" /proc/net/ip6_tables_names 2>/dev/null; then
    nw_sub "ipt_legacy6:$nw_t" 16777216 "$(nw_fw_variant ip6tables legacy)" -t "$nw_t"
  fi
done
if nw_have ufw; then
  nw_sub ufw_status 262144 ufw status verbose
  if [ -r /etc/ufw/ufw.conf ]; then nw_sub ufw_conf 65536 cat /etc/ufw/ufw.conf; fi
  if [ -r /etc/default/ufw ]; then nw_sub ufw_default 65536 cat /etc/default/ufw; fi
fi
if nw_have firewall-cmd; then
  nw_sub fwd_state 4096 firewall-cmd --state
  if firewall-cmd --state >/dev/null 2>&1; then
    nw_sub fwd_default 4096 firewall-cmd --get-default-zone
    nw_sub fwd_zones 1048576 firewall-cmd --list-all-zones
    nw_sub fwd_zones_perm 1048576 firewall-cmd --permanent --list-all-zones
  fi
fi
for nw_f in /etc/nftables.conf /etc/sysconfig/nftables.conf; do
  [ -f "$nw_f" ] || continue
  nw_sub "nftconf_text:$nw_f" 262144 cat "$nw_f"
  if nw_have nft && nw_nft_loaded; then
    nw_sub "nftconf_check:$nw_f" 65536 nft -c -f "$nw_f"
    if nw_have unshare; then
      nw_sub "nftconf_json:$nw_f" 16777216 unshare -n -- sh -c 'nft -f "$1" && nft -j list ruleset' sh "$nw_f"
    fi
  fi
done
for nw_f in /etc/iptables/rules.v4 /etc/iptables/rules.v6 /etc/sysconfig/iptables /etc/sysconfig/ip6tables; do
  if [ -f "$nw_f" ]; then nw_sub "iptconf:$nw_f" 4194304 cat "$nw_f"; fi
done
"""

_NAME = r"[a-z0-9_]+(?::[A-Za-z0-9_./@+-]{1,200})?"
MAX_SUBSECTIONS = 600


@dataclass(frozen=True, slots=True)
class Sub:
    name: str
    arg: str
    stdout: str
    stderr: str
    exit_code: int | None

    @property
    def error(self) -> str:
        words = " ".join(self.stderr.split())[:200] or "no message"
        return f"exit {self.exit_code}: {words}"


def split_subsections(text: str) -> list[Sub]:
    """The sub-sections of the firewall section, framed by the node's random marker."""
    first, _, rest = text.partition("\n")
    marker = first.strip()
    if not re.fullmatch(r"nwfw-[0-9a-zA-Z-]{4,64}", marker):
        raise FactParseError("firewall", 1, "the section does not start with its marker")
    pattern = re.compile(r"\n" + re.escape(marker) + r" (begin|stderr|end) (" + _NAME + r")(?: (\d{1,3}))?\n")
    subs: list[Sub] = []
    current: str | None = None
    stdout = ""
    in_stderr = False
    last = 0
    body = "\n" + rest
    for match in pattern.finditer(body):
        chunk = body[last : match.start()]
        last = match.end()
        kind, name = match.group(1), match.group(2)
        if kind == "begin":
            current, stdout, in_stderr = name, "", False
        elif current == name and kind == "stderr":
            stdout, in_stderr = chunk, True
        elif current == name and kind == "end":
            stderr = chunk if in_stderr else ""
            stdout = stdout if in_stderr else chunk
            base, _, arg = name.partition(":")
            subs.append(Sub(base, arg, stdout, stderr, int(match.group(3) or 255)))
            current = None
            if len(subs) > MAX_SUBSECTIONS:
                raise FactParseError("firewall", None, "more sub-sections than the gather script prints")
    if current is not None:  # the node cut the section off mid-command
        base, _, arg = current.partition(":")
        subs.append(Sub(base, arg, body[last:] if not in_stderr else stdout, "", None))
    return subs


def _env(sub: Sub | None) -> dict[str, str]:
    if sub is None:
        return {}
    pairs = (line.partition("=") for line in sub.stdout.splitlines()[:64])
    return {key: value.strip()[:512] for key, sep, value in pairs if sep}


def _route_dev(route: str) -> str | None:
    words = route.split()
    if "dev" in words and words.index("dev") + 1 < len(words):
        return words[words.index("dev") + 1][:32]
    return None


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    try:
        return build(split_subsections(section.text), context)
    except FactParseError as exc:
        return Unavailable(str(exc))


def build(subs: list[Sub], context: Mapping[str, str]) -> FirewallState | Unavailable:
    by_name: dict[str, list[Sub]] = {}
    for sub in subs:
        by_name.setdefault(sub.name, []).append(sub)

    def one(name: str) -> Sub | None:
        return by_name.get(name, [None])[0]

    env = _env(one("env"))
    if not env:
        return Unavailable(
            "the firewall section printed no environment line: " + (subs[0].error if subs else "")
        )
    unreadable: list[str] = []
    chains, nft_tables = _live_nft(by_name, env, unreadable)
    chains += _live_xtables(by_name, env, nft_tables, chains, unreadable)
    ufw, ufw_config = _ufw(one("ufw_status"), one("ufw_conf"), one("ufw_default"), unreadable)
    firewalld = _firewalld(by_name, unreadable)
    persisted = tuple(p for p in (parse_persisted(s, by_name) for s in subs) if p is not None)
    units_sub = one("units")
    client = context.get("client_addr", "")
    port = context.get("server_port", "")
    return FirewallState(
        chains=tuple(chains),
        nft_tables=tuple(nft_tables),
        unreadable=tuple(unreadable),
        systemd=env.get("systemd") == "yes",
        units=parse_units(units_sub.stdout) if units_sub is not None else (),
        ufw=ufw,
        ufw_config=ufw_config,
        firewalld=firewalld,
        firewalld_process=env.get("firewalld_process") == "yes",
        persisted=persisted,
        ipv6=env.get("ipv6_stack") == "yes" and env.get("ipv6_disable", "0") != "1",
        external_iface4=_route_dev(env.get("route4", "")),
        external_iface6=_route_dev(env.get("route6", "")),
        client_addr=client,
        server_port=int(port) if port.isdigit() else None,
    )


def _live_nft(
    by_name: Mapping[str, list[Sub]], env: Mapping[str, str], unreadable: list[str]
) -> tuple[list[Chain], list[NftTable]]:
    if env.get("nf_tables") != "yes":
        return [], []  # nf_tables is not even loaded: there is no nftables ruleset
    listing = by_name.get("nft_tables", [None])[0]
    if listing is None or listing.exit_code != 0:
        why = (
            "nft is not installed"
            if listing and listing.exit_code == 127
            else (listing.error if listing else "")
        )
        unreadable.append(f"nft list tables: {why}")
        return [], []
    tables = []
    for line in listing.stdout.splitlines()[:256]:
        words = line.split()
        if len(words) == 3 and words[0] == "table":
            tables.append(NftTable(words[1], words[2], table_owner(words[2])))
    chains: list[Chain] = []
    for sub in by_name.get("nft_table", []):
        label = f"nft -j list table {sub.arg.replace('/', ' ')}"
        if sub.exit_code != 0:
            unreadable.append(f"{label}: {sub.error}")
            continue
        try:
            document = nft.loads(sub.stdout, source=label)
        except FactParseError as exc:
            unreadable.append(str(exc))
            continue
        chains.extend(document.chains)
    return chains, tables


def _live_xtables(
    by_name: Mapping[str, list[Sub]],
    env: Mapping[str, str],
    nft_tables: list[NftTable],
    nft_chains: list[Chain],
    unreadable: list[str],
) -> list[Chain]:
    """iptables/ip6tables chains. For the nf_tables variant, xtables tables also appear in
    nft's JSON: we keep nft's view unless it holds xt compat expressions nft cannot show
    (then iptables-nft-save is the faithful one). iptables-nft-save in turn mistranslates
    native nft features (a set lookup vanishes), so it never wins over plain nft JSON."""
    out: list[Chain] = []
    for name, family, backend in (
        ("ipt_legacy4", "ip", "iptables-legacy"),
        ("ipt_legacy6", "ip6", "iptables-legacy"),
        ("ipt_nft4", "ip", "iptables-nft"),
        ("ipt_nft6", "ip6", "iptables-nft"),
    ):
        for sub in by_name.get(name, []):
            table = sub.arg or "filter"
            tool = f"{'ip6tables' if family == 'ip6' else 'iptables'}-{backend.split('-')[1]}-save -t {table}"
            if backend == "iptables-nft" and _nft_view_is_faithful(family, table, nft_chains, by_name):
                _relabel(nft_chains, family, table)
                continue
            if sub.exit_code != 0:
                unreadable.append(f"{tool}: {sub.error}")
                continue
            document = iptables.parse_save(sub.stdout, family=family, backend=backend, source=tool)
            if backend == "iptables-nft":
                nft_chains[:] = [c for c in nft_chains if not (c.family == family and c.table == table)]
            out.extend(c for c in document.chains if c.table == table)
    return out


def _nft_view_is_faithful(
    family: str, table: str, chains: list[Chain], by_name: Mapping[str, list[Sub]]
) -> bool:
    listed = next((s for s in by_name.get("nft_table", []) if s.arg == f"{family}/{table}"), None)
    if listed is None or listed.exit_code != 0:
        return False
    return '"xt"' not in listed.stdout and any(c.family == family and c.table == table for c in chains)


def _relabel(chains: list[Chain], family: str, table: str) -> None:
    """An xtables-shaped table (INPUT/FORWARD/OUTPUT...) read through nft is iptables-nft's."""
    from dataclasses import replace

    mine = [c for c in chains if c.family == family and c.table == table]
    if any(c.name in ("INPUT", "FORWARD", "OUTPUT", "PREROUTING") for c in mine):
        chains[:] = [replace(c, backend="iptables-nft") if c in mine else c for c in chains]


def _ufw(
    status: Sub | None, conf: Sub | None, default: Sub | None, unreadable: list[str]
) -> tuple[UfwStatus | None, UfwConfig | None]:
    if status is None or status.exit_code == 127:
        return None, None
    parsed = parse_ufw_status(status.stdout) if status.exit_code == 0 else None
    if parsed is None:
        unreadable.append(f"ufw status verbose: {status.error}")
    enabled: bool | None = None
    if conf is not None and conf.exit_code == 0:
        enabled = parse_shell_assignments(conf.stdout).get("ENABLED", "no").lower() == "yes"
    defaults = (
        parse_shell_assignments(default.stdout) if default is not None and default.exit_code == 0 else {}
    )
    return parsed, UfwConfig(enabled_at_boot=enabled, defaults=defaults)


def _firewalld(by_name: Mapping[str, list[Sub]], unreadable: list[str]) -> FirewalldInfo | None:
    state = by_name.get("fwd_state", [None])[0]
    if state is None or state.exit_code == 127:
        return None
    text = " ".join(state.stdout.split())[:64] or " ".join(state.stderr.split())[:64]
    running = state.exit_code == 0 and text == "running"
    default = by_name.get("fwd_default", [None])[0]
    zones = by_name.get("fwd_zones", [None])[0]
    permanent = by_name.get("fwd_zones_perm", [None])[0]
    if running and (zones is None or zones.exit_code != 0):
        unreadable.append("firewall-cmd --list-all-zones: " + (zones.error if zones else "not run"))
    return FirewalldInfo(
        running=running,
        state=text,
        default_zone=default.stdout.strip()[:64] if default is not None and default.exit_code == 0 else "",
        zones=parse_zones(zones.stdout) if zones is not None and zones.exit_code == 0 else (),
        permanent_zones=parse_zones(permanent.stdout)
        if permanent is not None and permanent.exit_code == 0
        else None,
    )
