"""RunContext: what a stage wrapper needs to record its work in the ledger.

A flow opens one context per run and hands it to each stage's wrapper::

    ctx = RunContext.open(ws, actor="alice", role="developer", flow_run_id=run_id)
    sha = ctx.store.put_json(report)
    ctx.record("gate.data_quality", subject="data:abc", payload={...}, artifacts={"report": sha})

Each ``record`` carries the flow-run id and run key in its payload and uses
``f"{run_key}:{action}:{subject}"`` as idempotency key, so a retried task (Prefect retries,
a resumed run with the same ``run_key``) does not append the same step twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from governance.ground.artifacts import ArtifactStore
from governance.ground.workspace import Workspace
from governance.log.ledger import ANY_PAYLOAD, Ledger, LedgerEntry, LedgerTransaction
from governance.policy.schema import Policy


@dataclass(frozen=True)
class RunContext:
    """Ledger, store and identity of one run.

    Attributes
    ----------
    ws : Workspace
    ledger : Ledger
        From :meth:`open`, a :class:`~governance.log.readtime.VerifiedReader` of it.
    store : ArtifactStore
    actor, role : str
        Who runs the flow, recorded on every entry.
    flow_run_id : str or None
        The Prefect flow-run id (None outside a Prefect flow).
    run_key : str
        Identifies the run for idempotency keys; reuse it to make a rerun idempotent.
    policy : Policy or None
        The policy in force (None for a context that records no policy decision).
    policy_hash : str or None
        SHA-256 of the policy file in force.
    signer : governance.identity.signing.Signer or None
        The proven identity of ``actor``; the acts it must sign (``model.trained``) are
        signed with it.
    sandbox : bool
        The workspace was initialised with ``--sandbox`` (its genesis entry:
        :func:`governance.identity.sandbox.is_sandbox`); every entry then carries ``"sandbox": true``.
    """

    ws: Workspace
    ledger: Ledger
    store: ArtifactStore
    actor: str
    role: str
    flow_run_id: str | None
    run_key: str
    policy: Policy | None = None
    policy_hash: str | None = None
    signer: Any = None
    sandbox: bool = False

    @classmethod
    def open(
        cls,
        ws: Workspace,
        *,
        actor: str,
        role: str = "system",
        flow_run_id: str | None = None,
        run_key: str | None = None,
        policy: Policy | None = None,
        policy_hash: str | None = None,
        signer: Any = None,
        sandbox: bool | None = None,
    ) -> RunContext:
        """Open the workspace ledger (its reads verified:
        :class:`~governance.log.readtime.VerifiedReader`) and store.

        ``flow_run_id`` is the Prefect flow run's id, given by the flow that opens the
        context (``flows.runners.current_flow_run_id``); ``run_key`` defaults to a new
        uuid4 hex; ``sandbox`` defaults to what the workspace's genesis says.
        """
        from governance.identity.sandbox import is_sandbox
        from governance.log.readtime import VerifiedReader

        # Every entry the run reads is verified when read (issue 22, item 4): an entry
        # edited after the verified checkpoint ends the run (exit 3) before it acts on it.
        ledger = VerifiedReader(Ledger.open(ws))
        if sandbox is None:
            sandbox = is_sandbox(ledger)
        return cls(
            ws=ws,
            ledger=ledger,
            store=ledger.store,
            actor=actor,
            role=role,
            flow_run_id=flow_run_id,
            run_key=run_key or uuid.uuid4().hex,
            policy=policy,
            policy_hash=policy_hash,
            signer=signer,
            sandbox=sandbox,
        )

    def idempotency_key(self, action: str, subject: str = "") -> str:
        """``f"{run_key}:{action}:{subject}"``."""
        return f"{self.run_key}:{action}:{subject}"

    def record(
        self,
        action: str,
        *,
        subject: str = "",
        payload: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, str] | None = None,
        tx: LedgerTransaction | None = None,
        signed: bool = False,
    ) -> LedgerEntry:
        """Append ``action`` once per run and subject; return the (new or existing) entry.

        A retry or resumed run gets its first recording of ``(run, action, subject)``: the
        decision as first made stands (``replay_ignores=ANY_PAYLOAD``). Found by the strict
        check of :meth:`Ledger.append`: a rerun of the same content key re-evaluates some
        gates (``gate.validation``) and reports differently; until every stage is keyed by
        what it decides on, a context keeps the first. With ``tx`` the entry is appended
        in that open ledger transaction. With ``signed``, the entry is ``signer``'s signed
        act (an unsigned one would not count: governance/identity/signed_acts.py).
        """
        body = {**(payload or {}), "flow_run_id": self.flow_run_id, "run_key": self.run_key}
        if self.sandbox:
            body["sandbox"] = True
        if signed and self.signer is not None:
            from governance.identity.signing import append_signed

            return append_signed(
                tx or self.ledger, self.signer, action, subject=subject, payload=body,
                artifacts=artifacts, idempotency_key=self.idempotency_key(action, subject),
                replay_ignores=ANY_PAYLOAD,
            )  # fmt: skip
        return (tx or self.ledger).append(
            action,
            actor=self.actor,
            role=self.role,
            subject=subject,
            payload=body,
            artifacts=artifacts,
            idempotency_key=self.idempotency_key(action, subject),
            replay_ignores=ANY_PAYLOAD,
        )

    def close(self) -> None:
        """Release the ledger's database connections."""
        self.ledger.dispose()
