"""Independent validation. Reads the model from the registry by version and the sealed holdout
by fingerprint; imports ``governance`` only and never ``tasks.train*`` (tests/test_independence.py).
"""
