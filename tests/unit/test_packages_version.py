"""dpkg and rpm version ordering: their own test vectors, and dpkg itself as the oracle."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.facts.packages.version import dpkg_compare, rpm_compare

# From dpkg's t-version.c and common kernel release strings.
DPKG = [
    ("1.0", "1.0", 0),
    ("1.0~rc1", "1.0", -1),
    ("1:0.1", "2.0", 1),
    ("6.1.0-9-amd64", "6.1.0-21-amd64", -1),
    ("1.0-1", "1.0-1+b1", -1),
    ("1.0a", "1.0", 1),
    ("1.0+", "1.0", 1),
    ("2.0-1~bpo12+1", "2.0-1", -1),
    ("6.1.76-1", "6.1.90-1", -1),
    ("1.2.3-1ubuntu1", "1.2.3-1", 1),
    ("0:1.0", "1.0", 0),
]

# From rpm's tests/rpmvercmp.at.
RPM = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p2", -1),
    ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10", "xyz10.1", -1),
    ("1.0aa", "1.0a", 1),
    ("1b.fc17", "1.fc17", -1),
    ("6.0.rc1", "6.0", 1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0^git2", -1),
    ("1.0^git1", "1.01", -1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("a", "1", -1),
    ("5.14.0-362.8.1.el9_3.x86_64", "5.14.0-362.18.1.el9_3.x86_64", -1),
]


def sign(value: int) -> int:
    return (value > 0) - (value < 0)


@pytest.mark.parametrize(("a", "b", "expected"), DPKG)
def test_dpkg_vectors(a: str, b: str, expected: int) -> None:
    assert sign(dpkg_compare(a, b)) == expected
    assert sign(dpkg_compare(b, a)) == -expected


@pytest.mark.parametrize(("a", "b", "expected"), RPM)
def test_rpm_vectors(a: str, b: str, expected: int) -> None:
    assert rpm_compare(a, b) == expected
    assert rpm_compare(b, a) == -expected


_PIECE = st.sampled_from(["0", "1", "2", "9", "10", "01", "a", "b", "z", ".", "+", "~", "-", "rc", "deb12u"])
# dpkg's syntax: upstream starts with a digit; a revision after the last "-" is not empty.
_VERSION = (
    st.lists(_PIECE, min_size=1, max_size=8)
    .map("".join)
    .filter(lambda v: v[0].isdigit() and not v.endswith("-"))
)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is the oracle (Debian CI has it)")
@settings(max_examples=150, deadline=None)
@given(_VERSION, _VERSION)
def test_dpkg_compare_agrees_with_dpkg_itself(a: str, b: str) -> None:
    def holds(op: str) -> bool:
        proc = subprocess.run(["dpkg", "--compare-versions", a, op, b], capture_output=True, check=False)
        return proc.returncode == 0

    ours = sign(dpkg_compare(a, b))
    assert (ours < 0) == holds("lt") and (ours == 0) == holds("eq")
