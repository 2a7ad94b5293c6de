"""Decisions: gates, approvals and promotion, the kill switch, pre-trade limits, the
use-time check of a model, and the run context stages record through.
"""
