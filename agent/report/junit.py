"""JUnit XML for CI dashboards: one <testsuite> per node, one <testcase> per finding.

There is no official JUnit schema; this follows the common Ant/Jenkins shape that
GitLab, Jenkins and GitHub test-report actions read. Mapping: fail -> <failure>,
error -> <error>, not_applicable/skip/waived -> <skipped>, warn -> a passing
testcase with <system-out> (warn never fails a run, so it must not turn CI red).
A node that could not be scanned is one testcase "connection" with an <error>.

CI goes red exactly when the exit code says so: a fail or error below `--fail-on`
does not change the exit code, so it is <skipped> with the reason ("below --fail-on
high"), still visible, never a red test. Test case names are the check id alone:
CI tools track a test's history by its name, and a title edit must not orphan it.

Only the stdlib: ElementTree escapes <, & and quotes, but it writes XML-illegal
characters (NUL, ESC, ...) verbatim and the document then cannot be parsed back.
Node output is hostile, so every string goes through `_xml_text` first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from agent.findings import Finding, NodeResult, RunResult, Severity, Status

# Characters XML 1.0 allows: tab, LF, CR, and U+0020 upwards minus surrogates and
# U+FFFE/U+FFFF. Everything else is removed, not escaped: XML has no escape for them.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_SKIPPED = (Status.NOT_APPLICABLE, Status.SKIP, Status.WAIVED)


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def _sub(parent: ET.Element, tag: str, attrib: dict[str, str] | None = None) -> ET.Element:
    # One choke point: every attribute value is cleaned, whoever supplied it.
    return ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in (attrib or {}).items()})


def _evidence_text(finding: Finding) -> str:
    lines = [finding.reason, *(o.describe() for o in finding.overrides)]
    for evidence in finding.evidence:
        lines.append(f"observed: {evidence.observed}")
        lines.append(f"expected: {evidence.expected}")
        lines.append(f"source: {evidence.source}")
    return _xml_text("\n".join(lines))


def _below(finding: Finding, fail_on: Severity) -> bool:
    """A fail or error that does not count toward the exit code (exit_codes.for_run)."""
    return finding.status in (Status.FAIL, Status.ERROR) and finding.severity < fail_on


def _testcase(suite: ET.Element, node: NodeResult, finding: Finding, fail_on: Severity) -> None:
    case = _sub(suite, "testcase", {"classname": node.name, "name": finding.check_id})
    if finding.overrides:  # whatever the status: a site overlay changed what this case judges
        properties = _sub(case, "properties")
        for override in finding.overrides:
            _sub(properties, "property", {"name": "nodeward.overlay", "value": override.describe()})
    status = finding.status
    if _below(finding, fail_on):
        below = f"{status.value} {finding.severity.label}, below --fail-on {fail_on.label}"
        _sub(case, "skipped", {"message": f"{below}: {finding.reason}"}).text = _evidence_text(finding)
    elif status is Status.FAIL:
        element = _sub(case, "failure", {"message": finding.reason, "type": finding.severity.label})
        element.text = _evidence_text(finding)
    elif status is Status.ERROR:
        element = _sub(case, "error", {"message": finding.reason, "type": "error"})
        element.text = _evidence_text(finding)
    elif status in _SKIPPED:
        _sub(case, "skipped", {"message": f"{status.value}: {finding.reason}"})
    elif status is Status.WARN:
        _sub(case, "system-out").text = _evidence_text(finding)


def _suite(root: ET.Element, node: NodeResult, fail_on: Severity) -> tuple[int, int, int, int]:
    if node.error is not None and not node.findings:
        suite = _sub(
            root,
            "testsuite",
            {"name": node.name, "tests": "1", "failures": "0", "errors": "1", "skipped": "0", "time": "0"},
        )
        case = _sub(suite, "testcase", {"classname": node.name, "name": "connection"})
        error = _sub(case, "error", {"type": node.error.kind.value, "message": node.error.message})
        error.text = _xml_text(node.error.message)
        return 1, 0, 1, 0
    findings = sorted(node.findings, key=lambda f: f.check_id)  # stable diffs between runs
    counts = (
        len(findings),
        sum(1 for f in findings if f.status is Status.FAIL and not _below(f, fail_on)),
        sum(1 for f in findings if f.status is Status.ERROR and not _below(f, fail_on)),
        sum(1 for f in findings if f.status in _SKIPPED or _below(f, fail_on)),
    )
    suite = _sub(
        root,
        "testsuite",
        {
            "name": node.name,
            "tests": str(counts[0]),
            "failures": str(counts[1]),
            "errors": str(counts[2]),
            "skipped": str(counts[3]),
            "time": f"{node.duration_seconds:.3f}",
        },
    )
    if node.error is not None:  # incomplete: the findings that arrived, and why the rest did not
        case = _sub(suite, "testcase", {"classname": node.name, "name": "connection"})
        error = _sub(case, "error", {"type": node.error.kind.value, "message": node.error.message})
        error.text = _xml_text(node.error.message)
        counts = (counts[0] + 1, counts[1], counts[2] + 1, counts[3])
        for key, value in zip(("tests", "errors"), (counts[0], counts[2]), strict=True):
            suite.set(key, str(value))
    for finding in findings:
        _testcase(suite, node, finding, fail_on)
    return counts


def render(run: RunResult, fail_on: Severity = Severity.LOW) -> str:
    """`fail_on` is the run's --fail-on (its default, low, when not given)."""
    root = ET.Element("testsuites", {"name": _xml_text(f"nodeward {run.inventory}")})
    totals = [0, 0, 0, 0]
    for node in run.nodes:  # inventory order, which the scan preserves
        for index, count in enumerate(_suite(root, node, fail_on)):
            totals[index] += count
    for key, value in zip(("tests", "failures", "errors", "skipped"), totals, strict=True):
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
