"""A dependency changed under a model in use: a finding on every champion that depends on it.

SR 26-2 names model dependencies and vendor components; SS1/23 counts a change in them as a
change the owner must see. Each champion's signed ``model.trained`` entry records the vendor
components it was trained and validated with (``components``: the price vendor and the
versions of the model library, the optimiser and its solvers, the numerical stack;
tasks/model/tracking.py ``vendor_components``). The environment about to use it (the
rebalance's process, its config's data source) is compared with that record: each component
whose version differs — a new cvxpy or CLARABEL, another LightGBM, another price vendor —
raises ``dependency_changed`` (about the component, origin ``dependency``, a warning) on the
champion, once while it stands (governance/findings/escalation.py). A component the model
never recorded (an older entry) is no finding: nothing was validated against it.

A feature source's contract change is the same idea for data and is raised where sources are
read (tasks/data/sources/record.py ``flag_contract_changes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from governance.findings.escalation import finding, raise_once
from governance.ground.refs import ModelRef
from governance.registry.change_control import trained_entry_of
from governance.registry.versions import champions

__all__ = ["component_changes", "flag_dependency_changes"]


def component_changes(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[tuple]:
    """``[(component, recorded version, version now)]`` of the recorded components that
    differ now (a package gone is ``None`` now)."""
    out = []
    vendor, vendor_now = recorded.get("price_vendor"), now.get("price_vendor")
    if vendor is not None and vendor_now is not None and vendor != vendor_now:
        out.append(("price_vendor", vendor, vendor_now))
    packages, packages_now = recorded.get("packages") or {}, now.get("packages") or {}
    for name in sorted(packages):
        if packages_now.get(name) != packages[name]:
            out.append((name, packages[name], packages_now.get(name)))
    return out


def flag_dependency_changes(ledger, now: Mapping[str, Any], strategies=None) -> list:
    """Raise ``dependency_changed`` on every champion (of ``strategies``; None: all) whose
    recorded components differ from ``now`` (``vendor_components`` of the environment about
    to use it); return the findings raised now."""
    raised = []
    for name, promoted in champions(ledger).items():
        if strategies is not None and name not in strategies:
            continue
        entry = trained_entry_of(ledger, promoted.ref)
        recorded = (entry.payload.get("components") if entry is not None else None) or {}
        found = [
            finding(
                "dependency_changed",
                f"{component}: {old} -> {new}: v{promoted.version} was trained and validated"
                f" with {component} {old}",
                about=component,
            )
            for component, old, new in component_changes(recorded, now)
        ]
        if found:
            evidence = {"components_now": dict(now), "trained_seq": entry.seq}
            raised += raise_once(
                ledger,
                ModelRef.parse(name, promoted.version),
                found,
                origin="dependency",
                evidence=evidence,
            )
    return raised
