"""The sequence-model family, its training loop, CCC metrics and the unimodal regressor."""
