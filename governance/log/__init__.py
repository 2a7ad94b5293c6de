"""The log: the RFC 6962 Merkle tree, the hash-chained ledger and its storage, signed
checkpoints, witnesses and their transparency checks.
"""
