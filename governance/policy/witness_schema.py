"""The witness section of the policy: the witnesses a decision needs and their quorum.

Read by governance/policy/witnesses.py; a member's key is a C2SP cosignature/v1 verifier key.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from governance.ground.configio import StrictModel
from governance.ground.errors import InputError

__all__ = ["WitnessMember", "WitnessPolicy"]


class WitnessMember(StrictModel):
    """One witness service: where it listens and its cosigning key (``alphagate witness
    keys`` on its host prints it: ``name+keyid+base64(0x04 || Ed25519 key)``)."""

    url: str = Field(pattern=r"^https?://[^\s]+$")
    key: str = Field(min_length=1)

    @model_validator(mode="after")
    def _key_is_a_cosigning_vkey(self) -> WitnessMember:
        from governance.log.checkpoint import COSIGNATURE_V1, Verifier

        try:
            v = Verifier.parse(self.key, "key")
        except InputError as exc:
            raise ValueError(str(exc)) from None
        if v.sig_type != COSIGNATURE_V1:
            raise ValueError("key: not a cosignature/v1 key (type 0x04)")
        return self


class WitnessPolicy(StrictModel):
    """The witnesses a decision needs (governance/policy/witnesses.py): every deciding
    command checks, before it acts, that ``quorum`` of ``members`` cosign the ledger it reads,
    and obtains their cosignatures on its own entries after. ``ALPHAGATE_WITNESS`` may add
    witnesses, never remove these. A quorum of 2 of 3 survives one witness down and one
    colluding (docs/governance.md)."""

    quorum: int = Field(ge=1)
    members: list[WitnessMember] = Field(min_length=1)

    @model_validator(mode="after")
    def _quorum_reachable(self) -> WitnessPolicy:
        if self.quorum > len(self.members):
            raise ValueError(
                f"quorum: {self.quorum} is more than the {len(self.members)} members named"
            )
        names = [m.key.split("+", 1)[0] for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError("members: two witnesses share a key name")
        return self
