"""May the champion drive a portfolio now? The decision the rebalance asks before scoring.

:func:`model_may_drive` says no — and why — when there is no champion, the kill switch is
tripped, the registry disagrees with the ledger, the champion's latest validation is not
``pass`` (nor ``review`` with every warning accepted), an acceptance expired or a
revalidation fell due (per policy), or a signed rejection stands against it. The rebalance
then builds the tier's fallback portfolio (``policy.tiers.<tier>.fallback``) and reports
the reasons.
"""

from __future__ import annotations

from governance import killswitch
from governance.approvals import REJECTED, decisions_on_validation, latest_validation
from governance.findings_review import use_checks
from governance.ledger import Ledger
from governance.policy import Tier
from governance.registry import champion_version, last_promotions, mlflow_client, registry_exists
from governance.workspace import Workspace


def model_may_drive(
    ws: Workspace, ledger: Ledger, model_name: str, tier: Tier | None = None
) -> tuple[bool, list[str], str | None]:
    """``(allowed, reasons, champion_version)`` for ``model_name``.

    Parameters
    ----------
    ws : Workspace
    ledger : Ledger
    model_name : str
        Registered model name (``model.name`` of the run config).
    tier : Tier, optional
        The policy tier: what an expired finding acceptance or an overdue revalidation
        does (``monitoring.on_acceptance_expired`` / ``on_revalidation_due``); default
        the policy's defaults.

    Returns
    -------
    allowed : bool
        True only when every condition holds; ``reasons`` is then empty.
    reasons : list of str
        One line per condition that fails.
    champion_version : str or None
        The version the ledger's last ``model.promoted`` names, if any.

    Fails closed: an error while deciding (registry unreachable, unreadable ledger entry)
    is a refusal whose reason names the error, never a permission.
    """
    try:
        return _decide(ws, ledger, model_name, tier)
    except Exception as exc:
        return (
            False,
            [f"could not decide whether the model may drive: {type(exc).__name__}: {exc}"],
            None,
        )


def _decide(ws, ledger, model_name: str, tier) -> tuple[bool, list[str], str | None]:
    reasons: list[str] = []
    state = killswitch.effective(ledger, model_name)  # the workspace's, else the strategy's
    if state.tripped:
        reasons.append(f"kill switch tripped by {state.by} at {state.since}: {state.reason}")
    promoted = last_promotions(ledger).get(model_name)
    version = str(promoted.payload["model_version"]) if promoted is not None else None
    if version is None:
        reasons.append(f"no champion: {model_name!r} has never been promoted")
        return False, reasons, None
    alias = champion_version(mlflow_client(ws), model_name) if registry_exists(ws) else None
    if alias != version:
        reasons.append(
            f"registry drift: champion alias points at v{alias}, the ledger promoted v{version}"
        )
    validation = latest_validation(ledger, model_name, version)
    # findings, acceptances and revalidation cadence (governance/findings_review.py)
    reasons += use_checks(ledger, version, validation, tier or Tier()).blockers
    rejected = decisions_on_validation(ledger, model_name, version, REJECTED, validation)
    if rejected:
        who = ", ".join(e.actor for e in rejected)
        reasons.append(f"champion v{version} was rejected by {who}")
    return not reasons, reasons, version
