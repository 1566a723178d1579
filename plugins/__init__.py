"""Built-in plugins. Each module implements musefuse hooks exactly as a third-party plugin would."""
