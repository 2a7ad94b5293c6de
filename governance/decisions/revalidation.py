"""``kill_switch.trip_on_champion_validation_fail``: a FAIL revalidation of the champion trips
its strategy's switch (issue 22: the policy flag had no caller).

``alphagate validate`` calls :func:`trip_if_champion_failed` after recording the verdict. The
champion is the version the signed approvals make (governance/registry/champion.py) *or* the one the MLflow
alias names (a trip is the safe side of any doubt between them); the trip is automatic
(actor ``alphagate``, trigger ``champion_validation_fail``) and names the failing
validation's seq as its evidence.
"""

from __future__ import annotations

from governance.decisions.killswitch import Trigger, auto_trip
from governance.ground.refs import ModelRef
from governance.registry.champion import champion
from governance.registry.store_reader import registry_reader
from governance.registry.versions import champion_version, registry_exists


def is_champion(ws, ledger, ref: ModelRef) -> bool:
    """Whether the version ``ref`` is the champion by the signed approvals or by the registry."""
    promoted = champion(ledger, ref.name)
    if promoted is not None and promoted.ref == ref:
        return True
    alias = champion_version(registry_reader(ws), ref.name) if registry_exists(ws) else None
    return ModelRef.recorded_number(alias) == ref.version


def trip_if_champion_failed(ws, target, tier, ref: ModelRef, verdict: str, seq: int):
    """Trip the strategy's switch when ``verdict`` is ``fail`` for its champion ``ref`` and the
    tier's policy enables the trigger; return the new state, or None when nothing tripped."""
    if str(verdict).lower() != "fail" or not is_champion(
        ws, getattr(target, "ledger", target), ref
    ):
        return None
    reason = f"champion {ref} failed its revalidation (validation seq {seq})"
    evidence = {"validation_seq": seq, "model_name": ref.name, "model_version": ref.version_text}
    return auto_trip(
        target, tier, Trigger.CHAMPION_VALIDATION_FAIL, reason, evidence, strategy=ref.name
    )
