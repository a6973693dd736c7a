"""Control-plane flag families: `component_flag` and `authorization_modes`.

A check names the component, the flag and what it must be; the effective value comes
from agent/facts/controlplane.py (the running process, else its static pod manifest;
etcd's environment and config file too; compiled-in defaults where the flag is unset):

    assert:
      predicate: component_flag
      args: {component: kube-apiserver, flag: audit-log-maxage, op: ge, value: 30}

Which nodes a check applies to follows discovery: an etcd check applies where etcd runs
(or its manifest waits), an API server check where kube-apiserver does. A worker has
neither and gets NOT_APPLICABLE. When the inventory declares the role but nothing is
found, the check is ERROR: the node should have been judged and could not be. A
component found on a node the inventory calls a worker is judged anyway: what runs is
what matters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import StrictInt, StrictStr, model_validator

from agent.facts import controlplane as cp
from agent.facts.k8s_components import (
    APISERVER,
    CONTROLLER_MANAGER,
    ETCD,
    SCHEDULER,
    Component,
    K8sComponents,
)
from agent.facts.k8s_files import K8sFiles
from agent.facts.model import Unavailable
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Facts, Family, FamilyArgs
from agent.rules.phrasing import bounded_verdict
from agent.rules.verdict import Verdict
from agent.textsafe import printable

ControlPlaneKind = Literal["kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler"]

ROLE_OF: Mapping[str, str] = {
    ETCD: "etcd",
    APISERVER: "control-plane",
    CONTROLLER_MANAGER: "control-plane",
    SCHEDULER: "control-plane",
}
_DEFAULTS_OF: Mapping[str, Mapping[str, str]] = {
    APISERVER: cp.APISERVER_DEFAULTS,
    CONTROLLER_MANAGER: cp.CONTROLLER_DEFAULTS,
    SCHEDULER: cp.CONTROLLER_DEFAULTS,
}


def optional_files(facts: Facts) -> K8sFiles | None:
    found = facts.get("k8s_files")
    return found if isinstance(found, K8sFiles) else None


def component_of(facts: Facts, node: Node, kind: str) -> Component | Verdict:
    """The component to judge, or the verdict that says why there is none."""
    role = ROLE_OF[kind]
    found = facts.get("k8s_components")
    if isinstance(found, Unavailable):
        return bounded_verdict(Status.ERROR, f"k8s_components: {found.reason}")
    if found is None:
        return bounded_verdict(Status.ERROR, "the k8s_components fact was not gathered")
    component = found.get(kind) if isinstance(found, K8sComponents) else None
    if component is None:
        if role in node.roles:
            return bounded_verdict(
                Status.ERROR,
                f"the inventory gives this node the {role} role, but no {kind} process or static pod "
                "manifest was found: it cannot be judged",
            )
        return bounded_verdict(
            Status.NOT_APPLICABLE,
            f"no {kind} runs on this node (process or static pod manifest); "
            f"{'etcd' if kind == ETCD else 'control-plane'} checks apply where it does",
        )
    if not component.argv_known:
        return bounded_verdict(
            Status.ERROR,
            f"{kind} is embedded in {component.embedded_in} ({component.source}); its arguments are unknown",
        )
    return component


def setting_of(component: Component, name: str, facts: Facts) -> cp.Setting:
    if component.kind == ETCD:
        return cp.etcd_setting(component, name, optional_files(facts))
    return cp.flag_setting(component, name, _DEFAULTS_OF.get(component.kind, {}))


def shown(setting: cp.Setting) -> str:
    return "(not set)" if setting.value is None else printable(setting.value, 200)


Judge = Callable[[Component, Facts], Verdict]


def on_component(kind: str, judge: Judge, facts: Facts, node: Node) -> Verdict:
    """Find `kind`, then judge it; a value that lives in a file we did not read is ERROR."""
    component = component_of(facts, node, kind)
    if isinstance(component, Verdict):
        return component
    try:
        return judge(component, facts)
    except cp.NeedsFiles as exc:
        return bounded_verdict(Status.ERROR, str(exc))


# --- component_flag ------------------------------------------------------------------


class ComponentFlag(FamilyArgs):
    component: ControlPlaneKind
    flag: StrictStr | tuple[StrictStr, ...]  # several only with op `set`
    op: Literal["set", "true", "false", "ge", "loopback"]
    value: StrictInt | None = None  # the minimum, for op `ge`
    # Flags that move this setting into a file nodeward does not read: when one of them
    # is set and `flag` is not, the value is unknown and the check is ERROR, never PASS.
    undecided_if_set: tuple[StrictStr, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ComponentFlag:
        if self.op == "ge" and self.value is None:
            raise ValueError("op `ge` needs an integer value")
        if self.op != "ge" and self.value is not None:
            raise ValueError(f"op `{self.op}` takes no value")
        if not isinstance(self.flag, str) and (self.op != "set" or not self.flag):
            raise ValueError("a list of flags goes only with op `set`")
        return self

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag,) if isinstance(self.flag, str) else self.flag


def _is_set(names: tuple[str, ...], component: Component, facts: Facts) -> Verdict:
    """CIS "argument is set as appropriate": every flag has a value."""
    settings = [(name, setting_of(component, name, facts)) for name in names]
    evidence = [Evidence(shown(s), f"--{n} set to a file", printable(s.source, 600)) for n, s in settings]
    unset = [f"--{n}" for n, s in settings if not s.value]
    if unset:
        return bounded_verdict(
            Status.FAIL, f"{component.kind}: {', '.join(unset)} not set ({component.source})", evidence
        )
    return bounded_verdict(
        Status.PASS, f"{component.kind}: {', '.join('--' + n for n in names)} set", evidence
    )


def _is_bool(name: str, want: bool, component: Component, facts: Facts) -> Verdict:
    setting = setting_of(component, name, facts)
    value = cp.truthy(setting.value)
    expected = "true" if want else "false (or unset, default false)" if name.endswith("auto-tls") else "false"
    evidence = [Evidence(shown(setting), expected, printable(setting.source, 600))]
    if value is want:
        return bounded_verdict(Status.PASS, f"{component.kind} --{name} is {shown(setting)}", evidence)
    return bounded_verdict(
        Status.FAIL,
        f"{component.kind} --{name} is {shown(setting)}, expected {expected}: {setting.source}",
        evidence,
    )


def _at_least(name: str, minimum: int, component: Component, facts: Facts) -> Verdict:
    setting = setting_of(component, name, facts)
    evidence = [Evidence(shown(setting), f">= {minimum}", printable(setting.source, 600))]
    try:
        number = int((setting.value or "").strip())
    except ValueError:
        number = None
    if number is not None and number >= minimum:
        return bounded_verdict(Status.PASS, f"--{name} is {number}", evidence)
    return bounded_verdict(
        Status.FAIL, f"--{name} is {shown(setting)}, expected at least {minimum}: {setting.source}", evidence
    )


def _loopback(name: str, component: Component, facts: Facts) -> Verdict:
    setting = setting_of(component, name, facts)
    evidence = [Evidence(shown(setting), "127.0.0.1 (loopback)", printable(setting.source, 600))]
    if cp.loopback_address(setting.value):
        return bounded_verdict(Status.PASS, f"{component.kind} serves on {setting.value}", evidence)
    return bounded_verdict(
        Status.FAIL,
        f"{component.kind} --{name} is {shown(setting)}: its secure port answers on every interface "
        f"({setting.source})",
        evidence,
    )


def flag_judge(args: ComponentFlag) -> Judge:
    """The judge for one flag requirement, usable by named predicates too."""

    def judge(component: Component, facts: Facts) -> Verdict:
        flags = component.flags
        elsewhere = [f for f in args.undecided_if_set if flags.has(f)]
        if elsewhere and not any(flags.has(f) for f in args.flags):
            return bounded_verdict(
                Status.ERROR,
                f"{component.kind}: --{args.flags[0]} is configured in --{elsewhere[0]}, "
                "which nodeward does not read yet",
            )
        if args.op == "set":
            return _is_set(args.flags, component, facts)
        if args.op in ("true", "false"):
            return _is_bool(args.flags[0], args.op == "true", component, facts)
        if args.op == "ge" and args.value is not None:  # the model validator guarantees a value
            return _at_least(args.flags[0], args.value, component, facts)
        return _loopback(args.flags[0], component, facts)

    return judge


def judge_component_flag(args: ComponentFlag, facts: Facts, node: Node) -> Verdict:
    return on_component(args.component, flag_judge(args), facts, node)


COMPONENT_FLAG = Family(
    name="component_flag",
    args=ComponentFlag,
    judge=judge_component_flag,
    summary="a control-plane component's effective flag is set, true/false, at least N, or loopback",
)


# --- authorization_modes -------------------------------------------------------------


class AuthorizationModes(FamilyArgs):
    include: StrictStr | None = None  # a mode that must be listed (Node, RBAC)
    exclude: StrictStr | None = None  # a mode that must not be (AlwaysAllow)

    @model_validator(mode="after")
    def _one(self) -> AuthorizationModes:
        if (self.include is None) == (self.exclude is None):
            raise ValueError("give exactly one of include, exclude")
        return self


def _modes(args: AuthorizationModes, component: Component, facts: Facts) -> Verdict:
    modes = cp.authorization_modes(component, optional_files(facts))
    listed = ",".join(modes.modes) or "(none)"
    expected = f"includes {args.include}" if args.include else f"does not include {args.exclude}"
    evidence = [Evidence(listed, expected, printable(modes.source, 600))]
    if args.include is not None and args.include not in modes.modes:
        return bounded_verdict(
            Status.FAIL,
            f"authorization modes are {listed}: {args.include} is missing ({modes.source})",
            evidence,
        )
    if args.exclude is not None and args.exclude in modes.modes:
        return bounded_verdict(
            Status.FAIL,
            f"authorization modes are {listed}: {args.exclude} authorises every request ({modes.source})",
            evidence,
        )
    return bounded_verdict(Status.PASS, f"authorization modes are {listed}", evidence)


def judge_authorization_modes(args: AuthorizationModes, facts: Facts, node: Node) -> Verdict:
    return on_component(APISERVER, lambda component, f: _modes(args, component, f), facts, node)


AUTHORIZATION_MODES = Family(
    name="authorization_modes",
    args=AuthorizationModes,
    judge=judge_authorization_modes,
    summary="the API server's effective authorization modes include or exclude one mode",
)
