"""Identity: personal keys, the user registry folded from the ledger, enrolment, signing,
separation of duties, the sandbox label and the re-verification of signed acts.
"""

# The ledger refuses an invalid signed act at append by this room's rule (governance/log/bound.py).
from governance.identity import signed_acts as _signed_acts  # noqa: F401
