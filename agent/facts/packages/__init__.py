"""packages: the node's patch level — pending security updates, holds, automatic updates,
and the age of the package metadata — whatever its package manager.

What it gathers, in one read-only, offline section: the snippet picks the manager by
what is installed (apt, then dnf or yum, zypper, apk) and asks it from its caches only
(an apt simulation, `dnf -C`, `zypper --no-refresh`, `apk --no-network`);
nothing refreshes metadata during a scan, so the metadata's age travels with the answer.

Modules, by job:
* fact.py — the entry point the registry names: SCRIPT, parse();
* model.py — PackageState, the one normalised shape every manager fills;
* apt.py, rpm.py (dnf and yum), zypper.py, apk.py — one parser per manager;
* version.py — dpkg's and rpm's version ordering (also used by the kernel fact).

What it exposes: `model.PackageState` (and `DAY`) for the patch predicates in
agent/rules/, `version.dpkg_compare`/`rpm_compare` for agent/facts/kernel.py. Nothing
here imports the transport.
"""
