"""Identity: personal keys, the user registry folded from the ledger, enrolment, signing,
separation of duties, the sandbox label and the re-verification of signed acts.
"""
