"""firewall: every live netfilter ruleset of a node, its managers, and what is persisted.

What it gathers, in one read-only section with its own randomly framed sub-sections:
nftables (`nft -j`), iptables and ip6tables (legacy and nf_tables variants), ufw and
firewalld status and configuration, systemd unit states, and the rulesets persisted for
the next boot (loaded into a throwaway network namespace to be listed by nft itself).

Modules, by job:
* fact.py — the entry point the registry names: SCRIPT, parse(), the sub-section split;
* model.py — one vocabulary for every backend: Chain, Rule, Match, owners;
* nft.py, iptables.py — each backend's output into that vocabulary;
* managers.py — ufw's, firewalld's and systemd's own words;
* persisted.py — the rulesets the node will load at boot;
* state.py — FirewallState, the fact's value, and which manager is active;
* walk.py — what netfilter does with one packet (the kernel's hook order);
* status.py — judgements over the state that need the walk: input defaults.

What it exposes: `state.FirewallState` and `walk.walk`/`Packet` for the firewall
predicates in agent/rules/. Nothing here imports the transport.
"""
