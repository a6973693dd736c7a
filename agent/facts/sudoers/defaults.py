"""sudo's Defaults options: how each may be written, and the value sudo ends up using.

Two halves of one table. Validation: sudo 1.9.13's option types, so a Defaults line
visudo rejects (and sudo skips at run time) is reported, and an option this table does
not know is reported as unknown, never guessed. Semantics: the compiled-in defaults of the
node's sudo (`sudo -V`) or upstream's, and how one Defaults entry changes a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.facts.sudoers.syntax_tree import DefaultsEntry

# --------------------------------------------------------------------------- how options are written

# sudo 1.9.13's option table (sudoers(5) "SUDOERS OPTIONS", checked value by value against
# visudo -cf): how each option may be written. Kinds:
#   flag          bare or !name only
#   list          needs a value; !name clears; =, += and -= all allowed
#   *_bool        !name is allowed (turns it off); a bare name is not
#   tuple_bare    a bare name and !name both allowed, a value must be one of the words
_FLAGS = (
    "always_query_group_plugin always_set_home authenticate case_insensitive_group "
    "case_insensitive_user closefrom_override compress_io exec_background env_editor env_reset "
    "fast_glob log_passwords fqdn ignore_audit_errors ignore_dot ignore_iolog_errors "
    "ignore_logfile_errors ignore_local_sudoers ignore_unknown_defaults insults log_allowed "
    "log_denied log_exit_status log_host log_input log_output log_server_keepalive "
    "log_server_verify log_stderr log_stdin log_stdout log_subcmds log_ttyin log_ttyout log_year "
    "long_otp_prompt mail_all_cmnds mail_always mail_badpass mail_no_host mail_no_perms "
    "mail_no_user match_group_by_gid intercept intercept_allow_setid intercept_authenticate "
    "intercept_verify netgroup_tuple noexec noninteractive_auth pam_acct_mgmt pam_rhost pam_ruser "
    "pam_session pam_setcred passprompt_override path_info preserve_groups pwfeedback requiretty "
    "root_sudo rootpw runas_allow_unknown_id runas_check_shell runaspw selinux set_home set_logname "
    "set_utmp setenv shell_noargs stay_setuid sudoedit_checkdir sudoedit_follow syslog_pid targetpw "
    "tty_tickets umask_override use_netgroups use_pty user_command_timeouts utmp_runas visiblepw "
    "iolog_flush"
)
_KINDS = {
    "int": "closefrom",
    "timeout_bool": "command_timeout log_server_timeout",
    "uint": "passwd_tries syslog_maxlen",
    "uint_bool": "loglinelen",
    "float_bool": "passwd_timeout timestamp_timeout",
    "mode_bool": "umask",
    "mode": "iolog_mode",
    "str": "authfail_message badpass_message iolog_file mailsub pam_askpass_service pam_login_service "
    "pam_service passprompt role runas_default timestampowner type group_plugin maxseq sudoers_locale",
    "path": "editor iolog_dir lecture_status_dir noexec_file timestampdir",
    "str_bool": "exempt_group mailerflags mailfrom mailto secure_path iolog_group iolog_user",
    "path_bool": "admin_flag env_file lecture_file logfile mailerpath restricted_env_file "
    "log_server_cabundle log_server_peer_cert log_server_peer_key",
    "dir_bool": "runchroot runcwd",
    "tuple_bool": "intercept_type timestamp_type log_format syslog_badpri syslog_goodpri",
    "tuple_bare": "fdexec lecture listpw verifypw syslog",
    "rlimit": "rlimit_as rlimit_core rlimit_cpu rlimit_data rlimit_fsize rlimit_locks rlimit_memlock "
    "rlimit_nofile rlimit_nproc rlimit_rss rlimit_stack",
    "list": "env_check env_delete env_keep log_servers passprompt_regex",
}
_PRIORITIES = ("alert", "crit", "debug", "emerg", "err", "info", "notice", "warning", "none")
_FACILITIES = ("authpriv", "auth", "daemon", "user", *(f"local{n}" for n in range(8)))
TUPLE_VALUES: dict[str, tuple[str, ...]] = {
    "intercept_type": ("dso", "trace"),
    "timestamp_type": ("global", "ppid", "tty", "kernel"),
    "log_format": ("sudo", "json"),
    "syslog_badpri": _PRIORITIES,
    "syslog_goodpri": _PRIORITIES,
    "fdexec": ("never", "digest_only", "always"),
    "lecture": ("never", "once", "always"),
    "listpw": ("never", "any", "all", "always"),
    "verifypw": ("never", "all", "any", "always"),
    "syslog": _FACILITIES,
}
DEFAULT_KINDS: dict[str, str] = {name: "flag" for name in _FLAGS.split()} | {
    name: kind for kind, names in _KINDS.items() for name in names.split()
}
_TIMEOUT = re.compile(r"(?=\d)(?:\d+[dD])?(?:\d+[hH])?(?:\d+[mM])?(?:\d+[sS]?)?")


def valid_timeout(value: str) -> bool:
    """A Timeout_Spec: 7d8h30m10s, 14d, 600s, 3600 (largest unit first, each once)."""
    return _TIMEOUT.fullmatch(value) is not None


def _value_ok(kind: str, name: str, value: str) -> bool:
    if kind == "int":
        return re.fullmatch(r"[+-]?\d{1,10}", value) is not None
    if kind in ("uint", "uint_bool"):
        return re.fullmatch(r"\+?\d{1,10}", value) is not None
    if kind == "float_bool":
        return re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)", value) is not None
    if kind == "timeout_bool":
        return valid_timeout(value)
    if kind in ("mode", "mode_bool"):
        return re.fullmatch(r"[0-7]{1,4}", value) is not None and int(value, 8) <= 0o777
    if kind in ("path", "path_bool"):
        return value.startswith("/")
    if kind == "dir_bool":
        return value.startswith(("/", "~")) or value == "*"
    if kind in ("tuple_bool", "tuple_bare"):
        return value in TUPLE_VALUES[name]
    if kind == "rlimit":
        part = r"(?:\d+|infinity)"
        return re.fullmatch(rf"{part}(?:,{part})?|default|user", value) is not None
    return True  # str, str_bool, list: any text


def defaults_problem(name: str, op: str, value: str | None) -> str | None:
    """visudo's complaint about one Defaults parameter, or None when it is acceptable."""
    kind = DEFAULT_KINDS.get(name)
    if kind is None:
        return f'unknown defaults entry "{name}"'
    if op in ("+=", "-=") and kind != "list":
        return f'option "{name}" does not take a value of that kind'
    if op == "true":
        if kind in ("flag", "tuple_bare"):
            return None
        return f'no value specified for "{name}"'
    if op == "false":
        if kind in ("flag", "list", "tuple_bare", "rlimit") or kind.endswith("_bool"):
            return None
        return f'"{name}" cannot be used in a boolean context'
    if kind == "flag":
        return f'option "{name}" does not take a value'
    if value is None or not _value_ok(kind, name, value):
        return f'value "{value}" is invalid for option "{name}"'
    return None


# --------------------------------------------------------------------------- the values sudo uses

# Values the checks judge, when no Defaults line sets them: the node's own `sudo -V` (run as
# root it prints the compiled-in defaults merged with the global Defaults), else upstream's.
_VERSION_FLAGS: Mapping[str, tuple[str, ...]] = {
    "use_pty": ("Always run commands in a pseudo-tty", "Always run commands in a pseudo-terminal"),
    "ignore_dot": ("Ignore '.' in $PATH",),
    "env_reset": ("Reset the environment to a default set of variables",),
    "authenticate": ("Require users to authenticate by default",),
    "fqdn": ("Require fully-qualified hostnames in the sudoers file",),
    "case_insensitive_user": ("Ignore case when matching user names",),
    "case_insensitive_group": ("Ignore case when matching group names",),
}
_VERSION_VALUES: Mapping[str, str] = {
    "timestamp_timeout": "Authentication timestamp timeout: ",
    "logfile": "Path to log file: ",
    "secure_path": "Value to override user's $PATH with: ",
    "runas_default": "Default user to run commands as: ",
    "exempt_group": "Users in this group are exempt from password and PATH requirements: ",
}
_UPSTREAM: Mapping[str, object] = {
    "use_pty": False,  # on by default from sudo 1.9.14, see compiled_defaults()
    "ignore_dot": False,
    "env_reset": True,
    "authenticate": True,
    "fqdn": False,
    "case_insensitive_user": True,
    "case_insensitive_group": True,
    "timestamp_timeout": 5.0,
    "logfile": None,
    "secure_path": None,
    "runas_default": "root",
    "exempt_group": None,
}


@dataclass(frozen=True, slots=True)
class Setting:
    value: object
    source: str  # "file:line" of the Defaults entry, or where the default comes from


def sudo_version(text: str) -> tuple[str, tuple[int, ...]]:
    """("1.9.13p3", (1, 9, 13)) from `sudo -V`; other implementations (sudo-rs) by name."""
    lines = text.splitlines()
    for line in lines:
        found = re.match(r"Sudo version (\d+)\.(\d+)\.(\d+)", line)
        if found:
            return line.removeprefix("Sudo version ").strip()[:80], tuple(int(g) for g in found.groups())
    return (lines[0].strip()[:80] if lines else ""), ()


def compiled_defaults(
    version_text: str, set_for_root: Callable[[str], bool] = lambda name: False
) -> dict[str, Setting]:
    """sudo's own defaults. `sudo -V` run by root prints the values in force for root, so it
    shows the compiled-in default of every option no Defaults entry sets for root here
    (`set_for_root`); the others fall back to upstream's documented defaults."""
    label, version = sudo_version(version_text)
    upstream = dict(_UPSTREAM)
    if version >= (1, 9, 14):
        upstream["use_pty"] = True
    lines = version_text.splitlines()
    trusted = any(line.startswith("Sudoers policy plugin version") for line in lines)
    result: dict[str, Setting] = {}
    for name, fallback in upstream.items():
        source = f"sudo {label or '(version unknown)'} built-in default"
        value: object = fallback
        if trusted and not set_for_root(name):
            source = "sudo -V (compiled-in default)"
            if name in _VERSION_FLAGS:
                value = any(line.strip() in _VERSION_FLAGS[name] for line in lines)
            else:
                prefix = _VERSION_VALUES[name]
                shown = next((line[len(prefix) :].strip() for line in lines if line.startswith(prefix)), None)
                value = _coerce(name, shown) if shown is not None else fallback
                if shown is None and name in ("logfile", "secure_path", "exempt_group"):
                    value = None
        result[name] = Setting(value, source)
    return result


def _coerce(name: str, shown: str) -> object:
    if name == "timestamp_timeout":
        number = re.match(r"-?[0-9.]+", shown)
        return float(number.group()) if number else None
    return shown


def apply_default(current: object, entry: DefaultsEntry) -> object:
    if entry.op == "true":
        return True
    if entry.op == "false":
        return 0.0 if entry.name == "timestamp_timeout" else (False if isinstance(current, bool) else None)
    if entry.name == "timestamp_timeout" and entry.value is not None:
        try:
            return float(entry.value)
        except ValueError:
            return current
    return entry.value
