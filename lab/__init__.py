"""Product features built on the core: synthetic data, noise robustness, difficulty quality, experiments."""
