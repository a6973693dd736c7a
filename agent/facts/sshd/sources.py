"""Evidence wording: where an effective sshd value came from, in one readable line.

The point of the file walk is this sentence. Operators fix sshd_config and the finding
stays red because a drop-in read earlier wins (canonical/cloud-init #5934; SSG had to
relearn first-match semantics, ComplianceAsCode PR #7410), so a finding names the line
that won, the Match block it sits in, and the lines sshd read but did not use:

    /etc/ssh/sshd_config.d/20-x.conf:2 (PermitRootLogin yes), read before
    /etc/ssh/sshd_config:3 (PermitRootLogin no), which sshd ignores: the first value wins
"""

from __future__ import annotations

from agent.facts.sshd.files import Directive, Setting
from agent.facts.sshd.keywords import KEYWORDS, Merge
from agent.textsafe import printable

_SHOWN = 3  # origin lines named before "and N more"


def where(directive: Directive) -> str:
    # The line and the Match condition are printable already (files.py); the file name
    # is escaped here, once: escaping the whole sentence again would double backslashes.
    text = f"{printable(str(directive.location), 300)} ({directive.text})"
    if directive.block is not None:
        text += f" in {directive.block} at {printable(str(directive.block.location), 300)}"
    return text


def attribution(setting: Setting | None) -> str:
    """Where a value came from, or that no line sets it."""
    if setting is None or not setting.origin:
        return "compiled-in default: no configuration line sets it"
    named = [where(d) for d in setting.origin[:_SHOWN]]
    text = ", ".join(named)
    if len(setting.origin) > _SHOWN:
        text += f" and {len(setting.origin) - _SHOWN} more lines"
    losers = [d for d in setting.ignored if d.values != setting.values]
    if losers:
        loser = losers[0]
        if KEYWORDS[setting.keyword].merge in (Merge.LAST, Merge.MAXSTARTUPS):
            text += f"; it replaces the earlier {where(loser)}: for this keyword the last value wins"
        elif setting.block is not None and loser.block is None:
            text += f"; for this connection it overrides {where(loser)}"
        elif loser.location.file != setting.origin[0].location.file:
            text += f", read before {where(loser)}, which sshd ignores: the first value wins"
        else:
            text += f"; {where(loser)} comes later and sshd ignores it: the first value wins"
    return text if len(text) <= 600 else text[:597] + "..."
