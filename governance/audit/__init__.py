"""Audit: is the workspace intact (the ledger, its witnesses, the signed acts), and the one
door every deciding command passes (identity proven on an intact ledger).
"""
