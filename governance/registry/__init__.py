"""The MLflow model registry as governance sees it: model facts, subjects, promotion and
the drift checks between the registry and the ledger.
"""
