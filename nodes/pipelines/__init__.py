"""Generative pipeline nodes."""
