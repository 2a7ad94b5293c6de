"""Independent validation. Reads the model from the registry by version and the sealed holdout
by fingerprint; imports ``governance`` and non-training ``tasks`` modules (``tasks.model.dataset``
to read the sealed frame), never ``tasks.model.train*``, ``tasks.model.cv``, ``tasks.model.register`` or
``tasks.model.card`` (tests/test_independence.py).

Entry point: :func:`validation.run.validate_model_version`. Pure statistics live in
``metrics``, ``challengers``, ``overfitting``, ``explain``, ``drift`` and ``findings``;
``assess`` runs them all; ``report`` renders the HTML; ``inputs`` loads what is validated.
"""
