"""Error hierarchy shared by every layer, mapped to the command-line exit codes.

=====  ===========================================================================
exit   meaning
=====  ===========================================================================
1      internal error (a bug): any exception that is not an :class:`AlphagateError`
2      :class:`InputError` — bad input, usage or configuration
3      :class:`GateHalt` — halted or blocked by a gate, or tampering detected
4      :class:`Forbidden` — a role or separation-of-duties rule refused the action
=====  ===========================================================================

Messages are one line and name the file, field, row or gate at fault.
"""

from __future__ import annotations


class AlphagateError(Exception):
    """Base of the errors a user can cause or a gate can raise."""

    exit_code: int = 1


class InputError(AlphagateError):
    """Bad input, usage or configuration (exit 2). The message names file, field or row."""

    exit_code = 2


class GateHalt(AlphagateError):
    """A gate stopped the chain (exit 3).

    Parameters
    ----------
    gate : str
        Name of the gate that halted (``data_quality``, ``validation``, ``kill_switch`` ...).
    reasons : list of str
        One line per failing check.
    """

    exit_code = 3

    def __init__(self, gate: str, reasons: list[str] | str):
        self.gate = gate
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        super().__init__(f"{gate}: " + "; ".join(self.reasons))


class TamperDetected(GateHalt):
    """A ledger, artifact, registry or evidence check found tampering (exit 3)."""

    def __init__(self, reasons: list[str] | str, gate: str = "integrity"):
        super().__init__(gate, reasons)


class Forbidden(AlphagateError):
    """A role or separation-of-duties rule refused the action (exit 4)."""

    exit_code = 4
