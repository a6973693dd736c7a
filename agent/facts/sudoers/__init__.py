"""sudoers: the whole sudo policy of a node, as sudo itself reads it, and who it makes root.

What it gathers: every file sudo could read (main file, include targets, include
directories, with their stat), `visudo -c`'s verdict, `sudo -V`, host names and
addresses, nsswitch sources and `getent group` — one gather section, read-only.

Modules, by job:
* fact.py — the entry point the registry names: SCRIPT, parse(), SudoersFact;
* collect.py — the gather script and the records it prints;
* tokens.py, lexer.py, lexer_actions.py, grammar.py, syntax_tree.py, defaults.py —
  a port of sudo's lexer (toke.l) and grammar (gram.y); parse_file.py is their face;
* assemble.py — includes spliced in by sudo's own rules;
* identity.py, match.py — accounts and host, match.c/parse.c semantics;
* privileges.py — who may run what as root.

What it exposes: `fact.SudoersFact` (with `Evaluator`, `Grant`, `Probe` re-exported
there) for the predicates in agent/rules/, and `parse_file.parse_text` for tests.
This package imports nothing outside agent.facts (never the transport).
"""
