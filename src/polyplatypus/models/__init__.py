"""Models: loading any causal LM and tokenizer (:mod:`~polyplatypus.models.loading`) and building
the tiny offline ones of the tests and the demo (:mod:`~polyplatypus.models.tiny`)."""
