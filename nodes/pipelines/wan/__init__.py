"""The shared Wan2.1 causal video core."""
