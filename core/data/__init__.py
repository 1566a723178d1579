"""Reading, validating, caching and standardising MuSe-layout data."""
