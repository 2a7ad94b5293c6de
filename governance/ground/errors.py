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

from enum import IntEnum, StrEnum


class Exit(IntEnum):
    """The command line's exit codes (shared/DESIGN.md): the table above, by name."""

    DONE = 0
    BUG = 1
    INPUT = 2
    HALTED = 3
    FORBIDDEN = 4


class AlphagateError(Exception):
    """Base of the errors a user can cause or a gate can raise."""

    exit_code: int = Exit.BUG


class InputError(AlphagateError):
    """Bad input, usage or configuration (exit 2). The message names file, field or row."""

    exit_code = Exit.INPUT


class Gate(StrEnum):
    """Every gate that can stop the chain (shared/DESIGN.md), in chain order.

    The first nine record a ``gate.<name>`` ledger entry (``governance.decisions.gates``); the others
    name where a :class:`GateHalt` came from, so that a caller can tell them apart (a
    scoring halt is no optimiser failure and trips no kill switch).
    """

    DATA_QUALITY = "data_quality"
    VALIDATION = "validation"
    APPROVAL = "approval"
    KILL_SWITCH = "kill_switch"
    PRETRADE = "pretrade"
    STRESS = "stress"  # the stress-loss limit of the pre-trade checks
    PRESEND = "presend"  # the pre-send checks of an order set (governance.decisions.presend)
    BOUNDARY = "boundary"  # live inputs outside the validated domain (validation/boundaries.py)
    RESTRICTION = "restriction"  # a signed restriction of use (governance/decisions/overlays.py)
    SCORING = "scoring"  # the champion cannot score the market (missing features)
    GRADUATION = "graduation"  # the paper record did not keep validation's promise
    OPTIMISER = "optimiser"  # infeasible, unbounded or numerical failure of the solve
    INTEGRITY = "integrity"  # ledger, artifact or registry tampering
    EVIDENCE = "evidence"  # an evidence pack failed verification


class GateHalt(AlphagateError):
    """A gate stopped the chain (exit 3).

    Parameters
    ----------
    gate : Gate or str
        The gate that halted; a string must be a :class:`Gate` value (else ``ValueError``:
        a gate the enum lacks is a bug).
    reasons : list of str
        One line per failing check.
    """

    exit_code = Exit.HALTED

    def __init__(self, gate: Gate | str, reasons: list[str] | str):
        self.gate = Gate(gate)
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        super().__init__(f"{gate}: " + "; ".join(self.reasons))


class TamperDetected(GateHalt):
    """A ledger, artifact, registry or evidence check found tampering (exit 3)."""

    def __init__(self, reasons: list[str] | str, gate: Gate | str = Gate.INTEGRITY):
        super().__init__(gate, reasons)


class Forbidden(AlphagateError):
    """A role or separation-of-duties rule refused the action (exit 4)."""

    exit_code = Exit.FORBIDDEN
