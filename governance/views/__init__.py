"""Views: what MLflow shows of the ledger's governance state."""
