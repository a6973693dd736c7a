"""Remediation: render reviewed fix scripts from templates, and apply them lockout-safely.

The pieces, each with one job:

* `manifest.py`  what a fix is: typed parameters, what it writes, how it is validated
  and reloaded, its lockout risk (remediations/<id>.yaml), and parameter validation;
* `render.py`    the Jinja2 environment (every `{{ }}` is shell-quoted by the
  environment itself) and the composition of one POSIX sh script per node or per fix
  around the constant node-side runtime (`runtime.sh`, `control.sh`);
* `bind.py`      failing findings -> fixes with parameters (manifest bindings, the
  inventory's own fix list and overrides);
* `lockout.py`   refusals the bastion can decide before anything runs (L4, L9);
* `plan.py`      per node: the ordered fixes, refusals, and the node-side dry run that
  yields a unified diff for every file that would change;
* `apply.py`     per node: connect, inspect (agent/inspection.py, the scan's own
  engine), plan, and the L1-L13 state machine (`apply_plan`) over that connection;
* `outcome.py`   what a node's remediation came to (`NodeStatus`, fixes, before/after);
* `run.py`       a fleet, node by node, under the run lock and the journal;
* `rollback.py`  `nodeward rollback`: restore a run's files from the node-side backups;
* `export.py`    `nodeward render --out`: a plan as standalone scripts to review;
* `journal.py`   the SQLite journal of every step on the bastion.

Nothing here prints: the CLI presents, report/remediation.py renders a run.

Nothing here imports paramiko, and jinja2 only inside render.py, so `nodeward --help`
stays cheap.
"""
