"""The audit facts (service, configuration) and their predicates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from agent.facts import audit, audit_service
from agent.facts.audit import AuditConfig
from agent.facts.audit_service import AuditdService
from agent.facts.model import Absent, FactValue, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.predicates_audit import audit_rules_loaded, auditd_running
from agent.rules.verdict import Verdict
from tests.checkrun import run_check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "audit"
NODE = Node(name="n1", roles=("worker",))


def by_check(check_id: str) -> Callable[[Mapping[str, FactValue], Node], Verdict]:
    return lambda facts, node: run_check(check_id, facts, node)


# The catalogue's checks, with the paths and modes of their YAML.
audit_watches_identity = by_check("audit_rules_watch_identity")
audit_watches_sudoers = by_check("audit_rules_watch_sudoers")
audit_watches_kubernetes = by_check("audit_rules_watch_kubernetes")
audit_logs_protected = by_check("audit_log_files_protected")
audit_config_protected = by_check("audit_config_files_protected")
audit_tools_protected = by_check("audit_tools_protected")


def load(name: str) -> AuditConfig:
    fact = audit.parse(RawSection("audit", (FIXTURES / name).read_bytes(), b"", 0, False), {})
    assert isinstance(fact, AuditConfig), fact
    return fact


def service(name: str) -> AuditdService:
    fact = audit_service.parse(RawSection("auditd", (FIXTURES / name).read_bytes(), b"", 0, False), {})
    assert isinstance(fact, AuditdService), fact
    return fact


def facts(state: AuditConfig) -> dict[str, FactValue]:
    return {"audit": state}


def observed(state: AuditConfig, key: str) -> tuple[object, str]:
    found = state.lookup(key)
    assert found is not None, key
    return found.value, found.source


def test_real_debian_rules_listing_and_default_conf() -> None:
    state = load("debian12_default_conf_real_rules.out")
    assert state.rules is not None and len(state.rules) == 9
    passwd = next(r for r in state.rules if r.watch == "/etc/passwd")
    assert (passwd.perms, passwd.key, passwd.recursive) == ("wa", "identity", True)
    sudo = next(r for r in state.rules if r.key == "privileged")
    assert (sudo.watch, sudo.perms, sudo.recursive) == ("/usr/bin/sudo", "x", False)
    assert observed(state, "status.enabled") == ("0", "auditctl -s")
    assert observed(state, "conf.disk_full_action") == ("suspend", "/etc/audit/auditd.conf:24")
    assert observed(state, "conf.max_log_file_action") == ("rotate", "/etc/audit/auditd.conf:17")
    assert observed(state, "boot.audit") == (None, "/proc/cmdline")
    assert state.lookup("rules.count") is not None
    assert state.log_dir == "/var/log/audit"
    assert audit_rules_loaded(facts(state), NODE).status is Status.PASS
    assert audit_watches_identity(facts(state), NODE).status is Status.PASS
    assert audit_watches_sudoers(facts(state), NODE).status is Status.PASS
    kubernetes = audit_watches_kubernetes(facts(state), NODE)
    assert kubernetes.status is Status.FAIL and "/etc/kubernetes" in kubernetes.reason
    # Debian's packaged modes: logs 0600/0440 root:adm in a 0750 directory, config 0640.
    assert audit_logs_protected(facts(state), NODE).status is Status.PASS
    assert audit_config_protected(facts(state), NODE).status is Status.PASS
    assert audit_tools_protected(facts(state), NODE).status is Status.PASS


def test_cis_level2_conf_values_with_lines_and_boot_flags() -> None:
    state = load("rhel9_cis_level2.out")
    assert observed(state, "conf.admin_space_left_action") == ("halt", "/etc/audit/auditd.conf:23")
    assert observed(state, "conf.disk_error_action")[0] == "exec"
    assert observed(state, "conf.max_log_file_action")[0] == "keep_logs"
    assert observed(state, "status.enabled")[0] == "2"
    assert (
        observed(state, "boot.audit")[0] == "1" and observed(state, "boot.audit_backlog_limit")[0] == "8192"
    )
    assert audit_watches_kubernetes(facts(state), NODE).status is Status.PASS
    assert audit_logs_protected(facts(state), NODE).status is Status.PASS  # 0700 directory, 0600/0440 files


def test_defaults_apply_when_unset() -> None:
    text = "@begin rules\n|No rules\n@end rules 0\n@begin conf\n|log_file = /srv/audit/a.log\n@end conf 0\n"
    state = audit.parse(RawSection("audit", text.encode(), b"", 0, False), {})
    assert isinstance(state, AuditConfig)
    assert observed(state, "conf.admin_space_left_action") == ("suspend", "auditd.conf(5) default")
    assert state.log_dir == "/srv/audit"
    assert state.rules == ()
    verdict = audit_rules_loaded(facts(state), NODE)
    assert verdict.status is Status.FAIL and "No rules" in verdict.reason
    assert state.lookup("status.enabled") is None  # auditctl -s missing: ERROR, not a guess


def test_auditctl_refused_in_a_namespace_is_an_error_and_modes_still_judged() -> None:
    state = load("auditctl_refused.out")
    assert state.rules is None and "Connection refused" in state.rules_error
    for predicate in (audit_rules_loaded, audit_watches_identity, audit_watches_kubernetes):
        verdict = predicate(facts(state), NODE)
        assert verdict.status is Status.ERROR and "Connection refused" in verdict.reason
    config = audit_config_protected(facts(state), NODE)
    assert config.status is Status.FAIL and "/etc/audit/rules.d/99-local.rules" in config.reason
    assert config.evidence[0].observed == "0666 root:root"
    tools = audit_tools_protected(facts(state), NODE)
    assert tools.status is Status.FAIL and tools.evidence[0].observed == "0777 ops:ops"


def test_fleet_stub_node_world_readable_log() -> None:
    state = load("debian12_fleet_stubbed_auditctl.out")
    logs = audit_logs_protected(facts(state), NODE)
    assert (
        logs.status is Status.FAIL and logs.reason == "1 audit log files too open: /var/log/audit/audit.log"
    )
    assert (
        logs.evidence[0].source == "/var/log/audit/audit.log"
        and logs.evidence[0].observed == "0644 root:root"
    )
    assert audit_tools_protected(facts(state), NODE).status is Status.PASS  # the stubs are 0755 root


def test_watch_coverage_rules() -> None:
    rules = (
        "@begin rules\n|-w /etc/ -p wa -k etc\n|-a always,exit -F path=/etc/sudoers.d -F perm=wa -F key=x\n"
        "|-w /etc/kubernetes -p r -k read-only\n@end rules 0\n"
    )
    state = audit.parse(RawSection("audit", rules.encode(), b"", 0, False), {})
    assert isinstance(state, AuditConfig)
    assert audit_watches_identity(facts(state), NODE).status is Status.PASS  # /etc/ covers /etc/passwd
    assert audit_watches_sudoers(facts(state), NODE).status is Status.PASS
    only_read = audit.parse(
        RawSection("audit", b"@begin rules\n|-w /etc/kubernetes -p r\n@end rules 0\n", b"", 0, False), {}
    )
    assert isinstance(only_read, AuditConfig)
    assert audit_watches_kubernetes(facts(only_read), NODE).status is Status.FAIL  # no w/a


def test_not_installed_is_absent_and_failure_unavailable() -> None:
    missing = RawSection("audit", b"", b"", 127, False, missing_tool=0)
    assert read_section(FACTS["audit"], missing, {}) == Absent("auditd is not installed")
    assert isinstance(read_section(FACTS["audit"], RawSection("audit", b"", b"", 1, False), {}), Unavailable)


def test_service_states() -> None:
    running = service("service_running_enabled.out")
    assert running.installed and running.running and running.enabled == "enabled"
    assert auditd_running({"auditd": running}, NODE).status is Status.PASS
    masked = service("service_masked_stopped.out")
    verdict = auditd_running({"auditd": masked}, NODE)
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "auditd is not running: no audit events are written; "
        "auditd.service is masked: it will not start at boot"
    )
    stub = service("service_debian12_fleet_stub.out")
    assert stub.installed and not stub.running and stub.enabled == "unknown"
    absent = service("service_debian12_fleet_not_installed.out")
    assert not absent.installed
    assert auditd_running({"auditd": absent}, NODE).status is Status.NOT_APPLICABLE
    installed = absent.lookup("installed")
    assert installed is not None and installed.value is False
