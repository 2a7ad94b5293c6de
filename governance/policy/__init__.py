"""Policy: the policy schema, its four-eyes adoption, tiers and their binding, and the
governance sections of the run config.
"""
