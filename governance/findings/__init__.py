"""The findings register: stable findings, their review path, signed acceptances and the
MLflow tags that show them.
"""
