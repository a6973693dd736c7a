"""Failing findings -> fixes with validated parameters, per node.

Where parameters come from, in this order:
1. the manifest's `checks:` binding for the failing check (static, reviewable data;
   `{by_role: ...}` picks per node role);
2. `auto` parameters from what the planner knows about the node and this run;
3. the inventory: `nodeward_remediation_params: {<check id>: {param: value}}` overrides
   a binding's values for that node, `nodeward_fixes: [{remediation, params}]` adds
   fixes no check asks for (e.g. `AllowUsers` with the site's own list, SSH-17),
   `nodeward_remediate_skip: [<check or remediation id>]` leaves fixes out, and
   `nodeward_remediate_opt_in: [<remediation id>]` enables fixes whose manifest says
   `opt_in` (firewall default-deny);
4. facts, only to refuse: a kubelet field set by a flag or a drop-in cannot be fixed
   by editing the config file;
5. facts, for the files a running component names (`process_files`, `kubelet_config`):
   resolved here from trusted processes only, never looked up on the node by process
   name (process_paths.py, issue 12 item 1).

Every value goes through the manifest's types (manifest.py) before anything renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.facts.model import FactValue
from agent.findings import Finding, Status
from agent.inventory.model import Node
from agent.remediate import process_paths
from agent.remediate.context import Context
from agent.remediate.lockout import refusal
from agent.remediate.manifest import Manifest, ParamError, Remediations, resolve_roles
from agent.remediate.render import FixScript

VAR_FIXES = "nodeward_fixes"
VAR_PARAMS = "nodeward_remediation_params"
VAR_SKIP = "nodeward_remediate_skip"
VAR_OPT_IN = "nodeward_remediate_opt_in"


@dataclass(frozen=True, slots=True)
class Refusal:
    remediation: str
    checks: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Binding:
    fixes: tuple[FixScript, ...]
    refused: tuple[Refusal, ...]
    unfixable: tuple[tuple[str, str], ...]  # (check id, why no fix)


def _auto(manifest: Manifest, ctx: Context, node: Node) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, spec in manifest.params.items():
        if spec.auto == "sudo_nopasswd_allowed":
            # The same inventory list sudo_nopasswd_not_used reads (predicates_sudo.py).
            allowed = node.vars.get("sudo_nopasswd_allowed", [])
            values[name] = [str(a) for a in allowed] if isinstance(allowed, list) else [str(allowed)]
        if spec.auto == "keep_users":
            values[name] = list(ctx.keep_users)
        elif spec.auto == "login_user":
            values[name] = ctx.login_user
        elif spec.auto == "bastion_addresses" and ctx.client_addr:
            values[name] = [ctx.client_addr]
        elif spec.auto == "ssh_port":
            values[name] = ctx.ssh_port
        elif spec.auto == "roles":
            values[name] = list(ctx.roles)
    return values


BLOCKED = "not applied: "  # a _from_facts note that stops the fix


def _from_facts(manifest: Manifest, merged: dict[str, object], facts: Mapping[str, FactValue]) -> list[str]:
    """Fill `process_files` and `kubelet_config` parameters from the scan's facts (an
    inventory value wins); returns why files a process names are left alone."""
    notes: list[str] = []
    for name, spec in manifest.params.items():
        if spec.auto == "process_files" and name not in merged:
            specs = merged.get("process_paths", [])
            wanted = [str(s) for s in specs] if isinstance(specs, list | tuple) else []
            resolved = process_paths.from_flags(wanted, facts)
            merged[name] = list(resolved.paths)
            notes += [f"left alone: {why}" for why in resolved.refused]
        elif spec.auto == "kubelet_config" and name not in merged:
            found = process_paths.kubelet_config(facts)
            if found.paths:
                merged[name] = found.paths[0]
            # The kubelet reads a file root must not edit: no fix (never the default path).
            notes += [f"{BLOCKED}{why}" for why in found.refused]
    return notes


def _names(node: Node, key: str) -> set[str]:
    raw = node.vars.get(key, [])
    if isinstance(raw, str):
        return {raw}
    return {str(item) for item in raw} if isinstance(raw, list) else set()


def bind(
    findings: Sequence[Finding],
    facts: Mapping[str, FactValue],
    node: Node,
    ctx: Context,
    remediations: Remediations,
) -> Binding:
    """The fixes for one node's FAIL findings, in run order (manifest `order`, then check)."""
    skip = _names(node, VAR_SKIP)
    opt_in = _names(node, VAR_OPT_IN)
    overrides = node.vars.get(VAR_PARAMS, {})
    overrides = overrides if isinstance(overrides, Mapping) else {}
    fixes: list[FixScript] = []
    refused: list[Refusal] = []
    unfixable: list[tuple[str, str]] = []
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}

    def add(manifest: Manifest, raw: Mapping[str, object], check_ids: tuple[str, ...]) -> None:
        if manifest.id in skip or any(c in skip for c in check_ids):
            refused.append(Refusal(manifest.id, check_ids, f"skipped: listed in {VAR_SKIP}"))
            return
        if manifest.opt_in and manifest.id not in opt_in:
            refused.append(
                Refusal(
                    manifest.id,
                    check_ids,
                    f"not applied: {manifest.id} is opt-in (lockout risk {manifest.lockout_risk}); "
                    f"add it to the node's {VAR_OPT_IN} to let nodeward apply it",
                )
            )
            return
        raw_params = {**_auto(manifest, ctx, node), **resolve_roles(raw, ctx.roles)}
        notes = _from_facts(manifest, raw_params, facts)
        for note in notes:
            refused.append(Refusal(manifest.id, check_ids, note))
        if any(note.startswith(BLOCKED) for note in notes):
            return
        try:
            params = manifest.validate_params(raw_params)
        except ParamError as exc:
            refused.append(Refusal(manifest.id, check_ids, f"parameters: {exc}"))
            return
        # What the bastion alone can tell would cut a path; the node-side guards judge the rest.
        why = refusal(manifest, params, facts, node, ctx)
        if why is not None:
            refused.append(Refusal(manifest.id, check_ids, why))
            return
        key = (manifest.id, tuple(sorted((k, repr(v)) for k, v in params.items())))
        if key in seen:  # two checks asking for the same change: one fix, both checks
            index = seen[key]
            merged = tuple(dict.fromkeys((*fixes[index].checks, *check_ids)))
            fixes[index] = FixScript(manifest, params, merged)
            return
        seen[key] = len(fixes)
        fixes.append(FixScript(manifest, params, check_ids))

    for finding in findings:
        if finding.status is not Status.FAIL:
            continue
        if not finding.remediation:
            unfixable.append((finding.check_id, "no remediation template (see docs/remediation.md)"))
            continue
        manifest = remediations.manifests.get(finding.remediation)
        if manifest is None:
            unfixable.append((finding.check_id, f"unknown remediation {finding.remediation!r}"))
            continue
        bindings = manifest.checks.get(finding.check_id)
        if bindings is None:
            unfixable.append((finding.check_id, f"{manifest.id} has no binding for this check"))
            continue
        extra = overrides.get(finding.check_id, {})
        for binding in bindings:
            add(manifest, {**binding, **(extra if isinstance(extra, Mapping) else {})}, (finding.check_id,))
    requested = node.vars.get(VAR_FIXES, [])
    for index, item in enumerate(requested if isinstance(requested, list) else []):
        if not isinstance(item, Mapping) or not isinstance(item.get("remediation"), str):
            refused.append(Refusal("?", (), f"{VAR_FIXES}[{index}]: needs `remediation` and `params`"))
            continue
        manifest = remediations.manifests.get(item["remediation"])
        params_raw = item.get("params", {})
        if manifest is None or not isinstance(params_raw, Mapping):
            refused.append(
                Refusal(
                    str(item["remediation"]), (), f"{VAR_FIXES}[{index}]: unknown remediation or bad params"
                )
            )
            continue
        add(manifest, dict(params_raw), ())
    fixes.sort(key=lambda f: (f.manifest.order, f.checks or ("~",)))
    return Binding(tuple(fixes), tuple(refused), tuple(unfixable))
