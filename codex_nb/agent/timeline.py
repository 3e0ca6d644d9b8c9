"""A run as a timeline: its own agent events plus every engine event of the proposals it made (and their repairs)."""
from __future__ import annotations

AGENT_EVENTS = ("agent_run", "agent_step", "agent_rewind")


def of_run(entries: list[dict], run_id: str) -> list[dict]:
    """The entries of run ``run_id`` (or a run id beginning with it), in log order."""
    own = [e for e in entries if e.get("event") in AGENT_EVENTS and str(e.get("run_id") or "").startswith(run_id)]
    proposals = {e["proposal_id"] for e in own if e.get("proposal_id")}
    grown = True
    while grown:  # a repaired proposal is linked to the one it repairs by the engine's repair event
        grown = False
        for e in entries:
            if e.get("event") == "repair" and e.get("new_proposal_id"):
                pair = {e.get("proposal_id"), e["new_proposal_id"]}
                if pair & proposals and not pair <= proposals:
                    proposals |= pair
                    grown = True
    proposals.discard(None)
    ids = {id(e) for e in own}
    return [e for e in entries if id(e) in ids or (e.get("event") not in AGENT_EVENTS and e.get("proposal_id") in proposals)]
