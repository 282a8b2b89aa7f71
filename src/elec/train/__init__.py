"""Training loop and metrics, shared by every network."""
