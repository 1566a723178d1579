"""The run folder and the run/predict entry points that fill it."""
