"""Remediation manifests: the bundled ones load, bindings match the catalogue, and typed
parameters refuse what does not fit before anything renders (reliability.md I2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.errors import CatalogError
from agent.remediate.manifest import ParamError, ParamSpec, load_remediations, resolve_roles

REPO = Path(__file__).resolve().parents[2]
REMEDIATIONS = load_remediations()
CATALOG = load_catalog()
HOSTILE = ("'; touch /tmp/pwned #", "a\nb", "$(touch /tmp/pwned)", "`id`", "x\x00y", "-oProxyCommand=x")


def test_bundled_manifests_load_with_templates() -> None:
    assert {
        "sshd_option",
        "sudoers_defaults",
        "sudoers_nopasswd",
        "file_mode",
        "kubelet_config_field",
        "sysctl_value",
        "firewall_baseline",
        "unattended_upgrades",
    } <= set(REMEDIATIONS.manifests)
    for manifest in REMEDIATIONS.manifests.values():
        assert manifest.template_path.is_file(), manifest.id
        assert Path(manifest.source).stem == manifest.id


def test_every_link_in_the_catalogue_has_a_manifest_with_a_binding() -> None:
    for check in CATALOG.checks:
        if check.remediation is None:
            continue
        manifest = REMEDIATIONS.manifests.get(check.remediation)
        assert manifest is not None, f"{check.id}: unknown remediation {check.remediation}"
        assert check.id in manifest.checks, f"{check.id}: {manifest.id} has no binding for it"


def test_every_binding_names_a_check_that_links_back() -> None:
    by_id = {c.id: c for c in CATALOG.checks}
    for manifest in REMEDIATIONS.manifests.values():
        for check_id in manifest.checks:
            assert check_id in by_id, f"{manifest.id} binds unknown check {check_id}"
            assert by_id[check_id].remediation == manifest.id, f"{check_id} does not link {manifest.id}"


def test_every_check_is_fixable_or_says_why_not() -> None:
    """docs/remediation.md lists each check without a template, with the reason."""
    text = (REPO / "docs" / "remediation.md").read_text().split("## Checks without a fix template", 1)[1]
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, re.M))
    missing = [c.id for c in CATALOG.checks if c.remediation is None and c.id not in documented]
    assert not missing, (
        f"checks with neither a remediation link nor a reason in docs/remediation.md: {missing}"
    )
    stale = sorted(documented - {c.id for c in CATALOG.checks if c.remediation is None})
    assert not stale, f"docs/remediation.md lists checks that now link a template or do not exist: {stale}"


@pytest.mark.parametrize("value", HOSTILE)
def test_paths_users_modes_and_words_refuse_hostile_values(value: str) -> None:
    for spec in (
        ParamSpec("p", "path"),
        ParamSpec("u", "user"),
        ParamSpec("m", "mode"),
        ParamSpec("w", "word", pattern=re.compile(r"[A-Za-z0-9_.:-]+")),
        ParamSpec("c", "cidr"),
        ParamSpec("e", "enum", values=("no", "yes")),
    ):
        with pytest.raises(ParamError):
            spec.coerce(value)


def test_text_refuses_control_characters_but_keeps_shell_metacharacters_as_data() -> None:
    spec = ParamSpec("t", "text", max_length=100)
    assert spec.coerce("'; touch /tmp/pwned # $(id)") == "'; touch /tmp/pwned # $(id)"
    for bad in ("a\nb", "a\rb", "tab\there", "nul\x00"):
        with pytest.raises(ParamError, match="control character"):
            spec.coerce(bad)
    with pytest.raises(ParamError, match="longer"):
        spec.coerce("x" * 101)


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (ParamSpec("m", "mode"), "640", "0640"),
        (ParamSpec("m", "mode"), "0440", "0440"),
        (ParamSpec("c", "cidr"), "10.0.0.5", "10.0.0.5/32"),
        (ParamSpec("c", "cidr"), "10.1.2.3/8", "10.0.0.0/8"),
        (ParamSpec("p", "port"), "22", 22),
        (ParamSpec("i", "int", minimum=0, maximum=5), 3, 3),
        (ParamSpec("p", "path", glob=True), "/etc/sudoers.d/*", "/etc/sudoers.d/*"),
    ],
)
def test_values_are_normalised(spec: ParamSpec, value: object, expected: object) -> None:
    assert spec.coerce(value) == expected


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (ParamSpec("p", "path"), "/etc/../shadow"),
        (ParamSpec("p", "path"), "relative/path"),
        (ParamSpec("p", "path"), "/etc/sudoers.d/*"),  # no globs unless the spec says so
        (ParamSpec("p", "port"), 0),
        (ParamSpec("p", "port"), 70000),
        (ParamSpec("b", "bool"), "yes"),
        (ParamSpec("i", "int"), True),
        (ParamSpec("l", "list", items=ParamSpec("x", "user"), max_items=2), ["a", "b", "c"]),
    ],
)
def test_values_outside_their_type_are_refused(spec: ParamSpec, value: object) -> None:
    with pytest.raises(ParamError):
        spec.coerce(value)


def test_unknown_and_missing_parameters_are_refused() -> None:
    manifest = REMEDIATIONS.manifests["sshd_option"]
    with pytest.raises(ParamError, match="unknown parameters"):
        manifest.validate_params({"keyword": "PermitRootLogin", "value": "no", "extra": "x"})
    with pytest.raises(ParamError, match="value is required"):
        manifest.validate_params({"keyword": "PermitRootLogin"})
    with pytest.raises(ParamError, match="not one of"):
        manifest.validate_params({"keyword": "Port", "value": "2222"})  # port changes are out of scope (L10)
    assert manifest.validate_params({"keyword": "PermitRootLogin", "value": "no"})["dropin"] == (
        "/etc/ssh/sshd_config.d/00-nodeward.conf"
    )


def test_by_role_picks_scalars_and_merges_lists() -> None:
    raw = {
        "value": {"by_role": {"worker": "1", "default": "0"}},
        "ports": {"by_role": {"worker": ["1"], "etcd": ["2", "1"]}},
    }
    assert resolve_roles(raw, ("worker",)) == {"value": "1", "ports": ["1"]}
    assert resolve_roles(raw, ("etcd", "worker")) == {"value": "1", "ports": ["2", "1"]}
    assert resolve_roles(raw, ()) == {"value": "0"}


def _catalog(tmp_path: Path, manifest: str, template: str = "true\n") -> Path:
    root = tmp_path / "remediations"
    root.mkdir()
    (root / "demo_fix.yaml").write_text(manifest)
    (root / "demo_fix.sh.j2").write_text(template)
    return root


def test_a_bad_manifest_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    root = _catalog(
        tmp_path,
        "id: other_name\ntitle: t\nvalidate: v\nreload: sometimes\ndisruption: low\nlockout_risk: low\n"
        "params:\n  x: {type: float}\nchecks:\n  some_check: {y: 1}\nsurprise: 1\n",
    )
    with pytest.raises(CatalogError) as caught:
        load_remediations(directory=root)
    text = str(caught.value)
    assert "demo_fix.yaml:1: id: must equal the file name" in text
    assert "demo_fix.yaml:4: reload: must be one of" in text
    assert "demo_fix.yaml:8: params.x.type" in text
    assert "demo_fix.yaml:11: surprise: unknown key" in text


def test_a_binding_that_does_not_validate_is_a_catalogue_error(tmp_path: Path) -> None:
    root = _catalog(
        tmp_path,
        "id: demo_fix\ntitle: t\nvalidate: v\nreload: none\ndisruption: low\nlockout_risk: low\n"
        "params:\n  path: {type: path}\nchecks:\n  some_check: {path: 'relative'}\n",
    )
    with pytest.raises(
        CatalogError, match=r"demo_fix.yaml:10: checks.some_check.0: .*normalised absolute path"
    ):
        load_remediations(directory=root)
