"""Evidence: packs an auditor verifies offline (manifest, proofs, signed acts), their HTML
index, and the model inventory.
"""
