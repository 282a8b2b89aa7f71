"""Rendering samples as text for the language model."""
