"""Every sshd_config keyword OpenSSH 9.2 (Debian 12) knows: scope, merge rule, value form.

This table is what lets the file walk say what `sshd -T` would print. It mirrors
servconf.c's `keywords[]`, the `process_server_config_line_depth` cases and
`dump_config`, and was checked keyword by keyword against the real daemon: scopes by
putting each keyword inside a Match block and reading `sshd -t`, values and defaults
by `sshd -T` on an empty file (tests/unit/test_sshd_keywords.py keeps both honest).

Merge rules (reference/reliability.md section 6.1):
- FIRST: the first active line wins, later ones are ignored (most keywords);
- ACCUMULATE: every active line adds (AllowUsers, AcceptEnv, HostKey, Port, ...);
- FIRST_LINE: the first active line's arguments, later lines ignored (AuthorizedKeysFile,
  AuthenticationMethods, SetEnv, PermitOpen, ...);
- LAST: every active line overwrites (IPQoS, FingerprintHash, PerSource*, ...);
- MAXSTARTUPS: like LAST, but a single number keeps the previous rate (sscanf in place).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

INT_MAX = 2**31 - 1


class Merge(enum.Enum):
    FIRST = "first"
    ACCUMULATE = "accumulate"
    FIRST_LINE = "first-line"
    LAST = "last"
    MAXSTARTUPS = "maxstartups"
    IGNORED = "ignored"  # deprecated, unsupported or ignored by this build


class ValueError_(ValueError):  # a ValueError carrying sshd's own wording
    """A value sshd would reject (the whole configuration then fails `sshd -t`)."""


Normalizer = Callable[[tuple[str, ...], str], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str  # canonical name, as sshd -T prints it
    in_match: bool  # allowed inside a Match block (SSHCFG_MATCH)
    merge: Merge
    value: Normalizer  # (argv, raw rest) -> values as sshd -T prints them
    oneline: bool = False  # sshd -T prints the list on one line, space separated


# --------------------------------------------------------------------------- values


def _one(args: tuple[str, ...]) -> str:
    if not args or args[0] == "":
        raise ValueError_("missing argument")
    if len(args) > 1:
        raise ValueError_("extra arguments at end of line")
    return args[0]


def _choices(table: Mapping[str, str], *, fold_case: bool = True) -> Normalizer:
    def parse(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
        arg = _one(args)
        key = arg.lower() if fold_case else arg
        if key not in table:
            raise ValueError_(f'unsupported option "{arg}"')
        return (table[key],)

    return parse


FLAG = _choices({"yes": "yes", "no": "no"})
PERMIT_ROOT = _choices(
    {
        "without-password": "without-password",
        "prohibit-password": "without-password",  # sshd prints the first name of a value
        "forced-commands-only": "forced-commands-only",
        "yes": "yes",
        "no": "no",
    }
)
IGNORE_RHOSTS = _choices({"yes": "yes", "no": "no", "shosts-only": "shosts-only"})
ADDRESS_FAMILY = _choices({"inet": "inet", "inet6": "inet6", "any": "any"})
COMPRESSION = _choices({"yes": "yes", "delayed": "yes", "no": "no"})
GATEWAY_PORTS = _choices({"clientspecified": "clientspecified", "yes": "yes", "no": "no"})
FORWARDING = _choices({"yes": "yes", "all": "yes", "no": "no", "remote": "remote", "local": "local"})
# PermitTunnel compares with strcmp: `PermitTunnel YES` is an error, unlike the flags.
PERMIT_TUNNEL = _choices(
    {"no": "no", "point-to-point": "point-to-point", "ethernet": "ethernet", "yes": "yes"}, fold_case=False
)
_LOG_LEVELS = {
    "quiet": "SILENT",  # log.c lists SILENT first for this level, so sshd -T prints it
    "silent": "SILENT",
    "fatal": "FATAL",
    "error": "ERROR",
    "info": "INFO",
    "verbose": "VERBOSE",
    "debug": "DEBUG",
    "debug1": "DEBUG",  # log.c names DEBUG1 "DEBUG": the first name with that level
    "debug2": "DEBUG2",
    "debug3": "DEBUG3",
}
LOG_LEVEL = _choices(_LOG_LEVELS)
FACILITY = _choices(
    {name.lower(): name for name in ("DAEMON", "USER", "AUTH", "AUTHPRIV", *(f"LOCAL{i}" for i in range(8)))}
)
FINGERPRINT_HASH = _choices({"md5": "MD5", "sha256": "SHA256"})


def integer(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    """misc.c atoi_err: strtonum(0, INT_MAX), decimal, an optional sign."""
    arg = _one(args)
    if not re.fullmatch(r"[ \t\n\v\f\r]*[+-]?[0-9]+", arg):
        raise ValueError_(f"integer value invalid: {arg}")
    value = int(arg.strip())
    if value < 0 or value > INT_MAX:
        raise ValueError_(f"integer value out of range: {arg}")
    return (str(value),)


_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(text: str) -> int:
    """misc.c convtime: `90`, `2m`, `1h30m`, `1w`; -1 when invalid."""
    if not text:
        return -1
    total = 0
    for number, unit in re.findall(r"\+?([0-9]+)([sSmMhHdDwW]?)", text):
        total += int(number) * _TIME_UNITS[unit.lower()]
        if total > INT_MAX:
            return -1
    return total if re.fullmatch(r"(?:\+?[0-9]+[sSmMhHdDwW]?)+", text) else -1


def time_value(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    value = seconds(_one(args))
    if value < 0:
        raise ValueError_("invalid time value")
    return (str(value),)


def unused_timeout(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    arg = _one(args)
    if arg == "none":
        return ("none",)
    value = seconds(arg)
    if value < 0:
        raise ValueError_("invalid time value")
    return ("none",) if value == 0 else (str(value),)


def filename(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    """derelativise_path: `none` stays, `~` is root's home, relative is sshd's cwd."""
    arg = _one(args)
    if arg.lower() == "none":
        return ("none",)
    return (_tilde(arg),)


def _tilde(path: str) -> str:
    # sshd -T runs as root, so `~` and `~/x` are root's home; `~user` we cannot know.
    if path == "~" or path.startswith("~/"):
        return "/root" + path[1:]
    return path


def clear_on_none(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    arg = _one(args)
    return ("none",) if arg.lower() == "none" else (arg,)


def principals_file(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    arg = _one(args)
    return ("none",) if arg.lower() == "none" else (_tilde(arg),)


def word(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    return (_one(args),)


def raw_rest(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    """ForceCommand and friends keep the rest of the line as written (comments too)."""
    text = rest.lstrip(" \t\r\n")
    if not text:
        raise ValueError_("missing argument")
    return ("none",) if text.lower() == "none" else (text,)


def command(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    text = rest.lstrip(" \t\r\n")
    if not text.startswith("/") and text.lower() != "none":
        raise ValueError_("must be an absolute path")
    return (text,)


def version_addendum(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    text = rest.lstrip(" \t\r\n").split("#", 1)[0].rstrip(" \t\r\n")
    return ("none",) if text.lower() == "none" or not text else (text,)


def words(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    if not args:
        raise ValueError_("missing argument")
    if any(arg == "" for arg in args):
        raise ValueError_("empty argument")
    return args


def env_names(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    if any(arg == "" or "=" in arg for arg in args):
        raise ValueError_("Invalid environment name.")
    return args


def env_assignments(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    if not args or any(arg == "" or "=" not in arg for arg in args):
        raise ValueError_("Invalid environment.")
    seen: set[str] = set()
    kept = []
    for arg in args:  # a repeated name keeps its first value (lookup_setenv_in_list)
        name = arg.split("=", 1)[0]
        if name not in seen:
            seen.add(name)
            kept.append(arg)
    return tuple(kept)


def key_files(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    return tuple(_tilde(arg) for arg in words(args, rest))


def auth_methods(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    known = {"publickey", "password", "keyboard-interactive", "hostbased", "gssapi-with-mic", "none"}
    methods = words(args, rest)
    if "any" in methods and len(methods) > 1:
        raise ValueError_('"any" must appear alone')
    for method_list in methods:
        if method_list == "any":
            continue
        for method in method_list.split(","):
            if method.split(":", 1)[0] not in known:
                raise ValueError_(f'Unknown authentication method "{method}" in list')
    return methods


def pubkey_auth_options(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    chosen = set()
    for arg in args:
        lowered = arg.lower()
        if lowered not in ("none", "touch-required", "verify-required"):
            raise ValueError_(f"unsupported pubkeyauthoptions option {arg}")
        if lowered != "none":
            chosen.add(lowered)
    shown = [option for option in ("touch-required", "verify-required") if option in chosen]
    return (" ".join(shown) if shown else "none",)


def permit_user_environment(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    arg = _one(args)
    # strcmp, not strcasecmp: anything but exactly "yes"/"no" is a pattern list.
    return (arg,)


def streamlocal_mask(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    arg = _one(args)
    match = re.match(r"[ \t]*[+-]?[0-7]+", arg)
    if match is None:
        raise ValueError_("Invalid streamlocalbindmask.")
    value = int(match.group().strip(), 8)
    if value < 0 or value > 0o777:
        raise ValueError_("Invalid streamlocalbindmask.")
    return (f"0{value:o}",)


def subsystem(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    if len(args) < 2 or not args[0] or not args[1]:
        raise ValueError_("Missing subsystem command.")
    return (args[0] + " " + " ".join(args[1:]),)


def max_startups(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    """Raw `begin[:rate:full]`; sshd scans it with sscanf("%d:%d:%d")."""
    arg = _one(args)
    numbers = re.match(r"\s*([+-]?\d+)(?::\s*([+-]?\d+):\s*([+-]?\d+))?", arg)
    if numbers is None or (numbers.group(2) is None and re.match(r"\s*[+-]?\d+:\s*[+-]?\d+", arg)):
        raise ValueError_("Invalid MaxStartups spec.")
    begin = int(numbers.group(1))
    if numbers.group(2) is None:
        return (str(begin),)
    rate, full = int(numbers.group(2)), int(numbers.group(3))
    if begin > full or rate > 100 or rate < 1:
        raise ValueError_("Invalid MaxStartups spec.")
    return (f"{begin}:{rate}:{full}",)


def algorithms(keyword: str) -> Normalizer:
    """kex_assemble_names: an explicit list (duplicates dropped), or `+x` appended to,
    `-x` (patterns) removed from, `^x` put in front of the compiled-in default."""

    def parse(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
        arg = _one(args)
        default = DEFAULTS[keyword][0].split(",")
        if arg.startswith("-"):
            removed = arg[1:].split(",")
            kept = [name for name in default if not any(_glob(name, p) for p in removed)]
            return (",".join(kept),)
        if arg.startswith("+"):
            names = default + arg[1:].split(",")
        elif arg.startswith("^"):
            names = arg[1:].split(",") + default
        else:
            names = arg.split(",")
        if any(not name for name in names):
            raise ValueError_(f"Bad {keyword} spec '{arg}'.")
        return (",".join(dict.fromkeys(names)),)

    return parse


def _glob(text: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def rdomain(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    # Debian's sshd is built without routing-domain support: the keyword is fatal.
    raise ValueError_("setting RDomain not supported on this platform.")


def any_args(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    """Kept as written; sshd's own reformatting of these is not modelled."""
    if not args:
        raise ValueError_("missing argument")
    return (" ".join(args),)


def ignored(args: tuple[str, ...], rest: str) -> tuple[str, ...]:
    return ()


# --------------------------------------------------------------------------- the table

F, A, FL, L = Merge.FIRST, Merge.ACCUMULATE, Merge.FIRST_LINE, Merge.LAST
G, M = False, True  # global only / also allowed inside Match

_TABLE: tuple[tuple[str, bool, Merge, Normalizer], ...] = (
    ("usepam", G, F, FLAG),
    ("port", G, A, word),
    ("addressfamily", G, F, ADDRESS_FAMILY),
    ("listenaddress", G, A, any_args),
    ("hostkey", G, A, filename),
    ("hostkeyagent", G, F, word),
    ("pidfile", G, F, filename),
    ("modulifile", G, F, filename),
    ("logingracetime", G, F, time_value),
    ("permitrootlogin", M, F, PERMIT_ROOT),
    ("syslogfacility", G, F, FACILITY),
    ("loglevel", M, F, LOG_LEVEL),
    ("logverbose", M, FL, words),
    ("hostbasedauthentication", M, F, FLAG),
    ("hostbasedusesnamefrompacketonly", M, F, FLAG),
    ("hostbasedacceptedalgorithms", M, F, word),
    ("hostkeyalgorithms", G, F, word),
    ("pubkeyauthentication", M, F, FLAG),
    ("pubkeyacceptedalgorithms", M, F, word),
    ("pubkeyauthoptions", M, F, pubkey_auth_options),
    ("kerberosauthentication", M, F, FLAG),
    ("kerberosorlocalpasswd", G, F, FLAG),
    ("kerberosticketcleanup", G, F, FLAG),
    ("gssapiauthentication", M, F, FLAG),
    ("gssapicleanupcredentials", G, F, FLAG),
    ("gssapistrictacceptorcheck", G, F, FLAG),
    ("gssapikeyexchange", G, F, FLAG),  # Debian's GSSAPI key exchange patch
    ("gssapistorecredentialsonrekey", G, F, FLAG),
    ("gssapikexalgorithms", G, F, word),
    ("passwordauthentication", M, F, FLAG),
    ("kbdinteractiveauthentication", M, F, FLAG),
    ("printmotd", G, F, FLAG),
    ("printlastlog", G, F, FLAG),
    ("ignorerhosts", M, F, IGNORE_RHOSTS),
    ("ignoreuserknownhosts", G, F, FLAG),
    ("x11forwarding", M, F, FLAG),
    ("x11displayoffset", M, F, integer),
    ("x11uselocalhost", M, F, FLAG),
    ("xauthlocation", G, F, filename),
    ("strictmodes", G, F, FLAG),
    ("permitemptypasswords", M, F, FLAG),
    ("permituserenvironment", G, F, permit_user_environment),
    ("compression", G, F, COMPRESSION),
    ("rekeylimit", M, F, any_args),
    ("tcpkeepalive", G, F, FLAG),
    ("allowtcpforwarding", M, F, FORWARDING),
    ("allowagentforwarding", M, F, FLAG),
    ("allowusers", M, A, words),
    ("denyusers", M, A, words),
    ("allowgroups", M, A, words),
    ("denygroups", M, A, words),
    ("ciphers", G, F, algorithms("ciphers")),
    ("macs", G, F, algorithms("macs")),
    ("kexalgorithms", G, F, algorithms("kexalgorithms")),
    ("gatewayports", M, F, GATEWAY_PORTS),
    ("subsystem", G, A, subsystem),
    ("maxstartups", G, Merge.MAXSTARTUPS, max_startups),
    ("persourcemaxstartups", G, L, word),
    ("persourcenetblocksize", G, L, word),
    ("maxauthtries", M, F, integer),
    ("maxsessions", M, F, integer),
    ("banner", M, F, filename),
    ("usedns", G, F, FLAG),
    ("clientaliveinterval", M, F, time_value),
    ("clientalivecountmax", M, F, integer),
    ("authorizedkeysfile", M, FL, key_files),
    ("acceptenv", M, A, env_names),
    ("setenv", M, FL, env_assignments),
    ("permittunnel", M, F, PERMIT_TUNNEL),
    ("permittty", M, F, FLAG),
    ("permituserrc", M, F, FLAG),
    ("permitopen", M, FL, words),
    ("permitlisten", M, FL, words),
    ("forcecommand", M, F, raw_rest),
    ("chrootdirectory", M, F, clear_on_none),
    ("hostcertificate", G, A, filename),
    ("revokedkeys", M, F, filename),
    ("trustedusercakeys", M, F, filename),
    ("authorizedprincipalsfile", M, F, principals_file),
    ("ipqos", M, L, any_args),
    ("authorizedkeyscommand", M, F, command),
    ("authorizedkeyscommanduser", M, F, word),
    ("authorizedprincipalscommand", M, F, command),
    ("authorizedprincipalscommanduser", M, F, word),
    ("versionaddendum", G, F, version_addendum),
    ("authenticationmethods", M, FL, auth_methods),
    ("streamlocalbindmask", M, L, streamlocal_mask),
    ("streamlocalbindunlink", M, F, FLAG),
    ("allowstreamlocalforwarding", M, F, FORWARDING),
    ("fingerprinthash", G, L, FINGERPRINT_HASH),
    ("disableforwarding", M, F, FLAG),
    ("exposeauthinfo", M, F, FLAG),
    ("rdomain", M, F, rdomain),
    ("casignaturealgorithms", M, F, word),
    ("securitykeyprovider", G, F, word),
    ("requiredrsasize", M, F, integer),
    ("channeltimeout", M, FL, words),
    ("unusedconnectiontimeout", M, F, unused_timeout),
)

# alias -> (canonical keyword, allowed in Match). An alias can have a narrower scope
# than its keyword: `DSAAuthentication` is global only, `PubkeyAuthentication` is not.
_ALIASES: Mapping[str, tuple[str, bool]] = {
    "hostdsakey": ("hostkey", G),
    "dsaauthentication": ("pubkeyauthentication", G),
    "challengeresponseauthentication": ("kbdinteractiveauthentication", M),
    "skeyauthentication": ("kbdinteractiveauthentication", M),
    "keepalive": ("tcpkeepalive", G),
    "pubkeyacceptedkeytypes": ("pubkeyacceptedalgorithms", M),
    "hostbasedacceptedkeytypes": ("hostbasedacceptedalgorithms", M),
}

# Accepted but without effect here: deprecated options, options this build lacks
# (Debian 12 has no AFS), and Protocol (ignored since SSH-1 was removed).
_IGNORED: Mapping[str, bool] = {
    "pamauthenticationviakbdint": G,
    "serverkeybits": G,
    "keyregenerationinterval": G,
    "rhostsauthentication": G,
    "rhostsrsaauthentication": M,
    "rsaauthentication": M,
    "checkmail": G,
    "uselogin": G,
    "verifyreversemapping": G,
    "reversemappingcheck": G,
    "authorizedkeysfile2": M,
    "useprivilegeseparation": G,
    "protocol": G,
    "kerberostgtpassing": G,
    "afstokenpassing": G,
    "kerberosgetafstoken": G,
    "debianbanner": G,  # Debian: only changes the version banner; not printed by sshd -T
}

KEYWORDS: Mapping[str, Keyword] = {
    **{name: Keyword(name, scope, merge, value, oneline=name in (
        "authorizedkeysfile", "authenticationmethods", "logverbose", "permitopen", "permitlisten",
        "channeltimeout",
    )) for name, scope, merge, value in _TABLE},
    **{name: Keyword(name, scope, Merge.IGNORED, ignored) for name, scope in _IGNORED.items()},
}  # fmt: skip


def lookup(written: str) -> tuple[Keyword, bool] | None:
    """The keyword a line names (case-insensitive) and whether it may sit in a Match."""
    key = written.lower()
    if key in _ALIASES:
        canonical, scope = _ALIASES[key]
        return KEYWORDS[canonical], scope
    found = KEYWORDS.get(key)
    return None if found is None else (found, found.in_match)


# What sshd -T prints for an empty configuration on Debian 12 (openssh-server
# 1:9.2p1-2+deb12u*), checked against the real daemon by test_sshd_keywords.py. Used
# only when sshd -T cannot run (no root): the file walk then says "compiled-in default".
# Upstream and other distributions differ in a few (UsePAM, KbdInteractive on 9.6+).
DEFAULTS: Mapping[str, tuple[str, ...]] = {
    "port": ("22",),
    "addressfamily": ("any",),
    "usepam": ("no",),
    "logingracetime": ("120",),
    "x11displayoffset": ("10",),
    "maxauthtries": ("6",),
    "maxsessions": ("10",),
    "clientaliveinterval": ("0",),
    "clientalivecountmax": ("3",),
    "requiredrsasize": ("1024",),
    "streamlocalbindmask": ("0177",),
    "unusedconnectiontimeout": ("none",),
    "permitrootlogin": ("without-password",),
    "ignorerhosts": ("yes",),
    "ignoreuserknownhosts": ("no",),
    "hostbasedauthentication": ("no",),
    "hostbasedusesnamefrompacketonly": ("no",),
    "pubkeyauthentication": ("yes",),
    "kerberosauthentication": ("no",),
    "kerberosorlocalpasswd": ("yes",),
    "kerberosticketcleanup": ("yes",),
    "gssapiauthentication": ("no",),
    "gssapicleanupcredentials": ("yes",),
    "gssapikeyexchange": ("no",),
    "gssapistrictacceptorcheck": ("yes",),
    "gssapistorecredentialsonrekey": ("no",),
    "passwordauthentication": ("yes",),
    "kbdinteractiveauthentication": ("yes",),
    "printmotd": ("yes",),
    "printlastlog": ("yes",),
    "x11forwarding": ("no",),
    "x11uselocalhost": ("yes",),
    "permittty": ("yes",),
    "permituserrc": ("yes",),
    "strictmodes": ("yes",),
    "tcpkeepalive": ("yes",),
    "permitemptypasswords": ("no",),
    "compression": ("yes",),
    "gatewayports": ("no",),
    "usedns": ("no",),
    "allowtcpforwarding": ("yes",),
    "allowagentforwarding": ("yes",),
    "disableforwarding": ("no",),
    "allowstreamlocalforwarding": ("yes",),
    "streamlocalbindunlink": ("no",),
    "fingerprinthash": ("SHA256",),
    "exposeauthinfo": ("no",),
    "pidfile": ("/run/sshd.pid",),
    "modulifile": ("/etc/ssh/moduli",),
    "xauthlocation": ("/usr/bin/xauth",),
    "ciphers": (
        "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
        "aes256-gcm@openssh.com",
    ),
    "macs": (
        "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
        "hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,"
        "umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    ),
    "kexalgorithms": (
        "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,"
        "curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
        "diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
        "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256",
    ),
    "banner": ("none",),
    "forcecommand": ("none",),
    "chrootdirectory": ("none",),
    "trustedusercakeys": ("none",),
    "revokedkeys": ("none",),
    "securitykeyprovider": ("internal",),
    "authorizedprincipalsfile": ("none",),
    "versionaddendum": ("none",),
    "authorizedkeyscommand": ("none",),
    "authorizedkeyscommanduser": ("none",),
    "authorizedprincipalscommand": ("none",),
    "authorizedprincipalscommanduser": ("none",),
    "hostkeyagent": ("none",),
    "loglevel": ("INFO",),
    "syslogfacility": ("AUTH",),
    "authorizedkeysfile": (".ssh/authorized_keys .ssh/authorized_keys2",),
    "hostkey": ("/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"),
    "authenticationmethods": ("any",),
    "maxstartups": ("10:30:100",),
    "persourcemaxstartups": ("none",),
    "persourcenetblocksize": ("32:128",),
    "permittunnel": ("no",),
    "ipqos": ("lowdelay throughput",),
    "rekeylimit": ("0 0",),
    "permitopen": ("any",),
    "permitlisten": ("any",),
    "permituserenvironment": ("no",),
    "pubkeyauthoptions": ("none",),
}

# Keywords whose value the file walk reproduces exactly as sshd -T prints it; the
# differential test (tests/unit/test_sshd_oracle.py) holds the walk to this list.
EXACT = frozenset(KEYWORDS) - {
    "port", "listenaddress", "rekeylimit", "ipqos", "rdomain", "hostkeyagent", "hostkeyalgorithms",
    "pubkeyacceptedalgorithms",
    "hostbasedacceptedalgorithms", "casignaturealgorithms", "gssapikexalgorithms",
    "persourcemaxstartups", "persourcenetblocksize", "channeltimeout", "securitykeyprovider",
}  # fmt: skip
