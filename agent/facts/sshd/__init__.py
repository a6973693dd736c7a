"""sshd: the effective sshd configuration of a node, and which file and line set each value.

What it gathers, in one read-only section: `sshd -T -C` for the operator's own
connection and for one connection per Match line, the walk of every file sshd reads
(text and stat), host key metadata and the smallest /etc/ssh/moduli group.

Modules, by job:
* fact.py — the entry point the registry names: SCRIPT, parse(), SshdConfig, MatchView;
* walk.py — the node-side snippet and the wire format it prints;
* syntax.py — one sshd_config line lexed exactly as OpenSSH does;
* keywords.py — every keyword's scope, merge rule and Debian 12 default;
* match.py — does a connection select a Match block (sshd's own rules);
* files.py — the file walk replayed: which line won for a connection;
* sources.py — the evidence sentence naming the winning and the ignored lines.

What it exposes: `fact.SshdConfig` (with `lookup`) and `fact.FILE_WALK` for the
predicates and families in agent/rules/; `sources.attribution`/`where` and
`match.match_pattern` for family_sshd. This package imports nothing outside
agent.facts except agent.textsafe (never the transport).
"""
