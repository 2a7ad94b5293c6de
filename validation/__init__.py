"""Independent validation. Reads the model from the registry by version and the sealed holdout
by fingerprint; imports ``governance`` and non-training ``tasks`` modules (``tasks.dataset``
to read the sealed frame), never ``tasks.train*``, ``tasks.cv``, ``tasks.tracking`` or
``tasks.model_card`` (tests/test_independence.py).

Entry point: :func:`validation.run.validate_model_version`. Pure statistics live in
``metrics``, ``challengers``, ``overfitting``, ``explain``, ``drift`` and ``findings``;
``assess`` runs them all; ``report`` renders the HTML; ``inputs`` loads what is validated.
"""
