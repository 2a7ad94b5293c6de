"""A sandbox workspace labels everything it produces: one source of truth, one wording.

A workspace initialised with ``alphagate init --sandbox`` lets configs name any policy
(governance/policy/adoption.py). Whether a workspace is a sandbox is written once, in its signed
genesis entry (``workspace.initialised``), and read back through the user registry folded
from the ledger (:func:`is_sandbox`); never from a tier's name, a config or a tag. What the
workspace produces then says so:

- ledger entries recorded through a :class:`~governance.decisions.context.RunContext` carry
  ``"sandbox": true``;
- MLflow training and validation runs, registered versions and the registered model carry
  ``governance.sandbox`` = ``true`` (``false`` outside a sandbox) and a ``governance.policy``
  value labelled with :func:`policy_label`; descriptions say :data:`NOT_FOR_PRODUCTION`;
- the validation report (HTML and JSON), the evidence pack (manifest, index, ``evidence
  verify``) and every deciding command's output (``--json`` field ``sandbox``, :data:`BANNER`
  on the first line of text) say so.
"""

from __future__ import annotations

#: The MLflow tag (runs, versions, registered models).
TAG = "governance.sandbox"
#: What a sandbox is not.
NOT_FOR_PRODUCTION = "sandbox: not for production"
#: The first line of a deciding command's text output, and the banner of a report.
BANNER = (
    "SANDBOX workspace (alphagate init --sandbox): configs may name any policy; not for production"
)


def banner(sandbox: bool) -> str | None:
    """A page's banner (:class:`governance.ground.html.Page`): :data:`BANNER` in a sandbox."""
    return BANNER if sandbox else None


def is_sandbox(ledger) -> bool:
    """Whether the ledger's workspace was initialised with ``--sandbox`` (its genesis)."""
    from governance.identity.users import load_registry

    return load_registry(ledger).sandbox


def tag_value(sandbox: bool) -> str:
    """``"true"`` or ``"false"``: the value of :data:`TAG`."""
    return "true" if sandbox else "false"


def policy_label(policy_hash: str | None, sandbox: bool) -> str:
    """A ``governance.policy`` value: the hash, followed by `` sandbox`` in a sandbox."""
    return (policy_hash or "unknown") + (" sandbox" if sandbox else "")


def run_tags(policy_hash: str | None, sandbox: bool) -> dict[str, str]:
    """The governance tags of an MLflow run (training or validation)."""
    return {TAG: tag_value(sandbox), "governance.policy": policy_label(policy_hash, sandbox)}
