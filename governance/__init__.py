"""Governance: policy, gates, kill switch, users, approvals, ledger, registry, evidence.

The lowest layer: it imports nothing from ``flows``, ``tasks`` or ``validation``.
"""
