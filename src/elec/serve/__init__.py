"""Serving the vanilla network: export bundles, raw rows -> probabilities, HTTP.

Nothing here imports the language model: what is served is the backbone alone.
"""

from elec.serve.predictor import Predictor

__all__ = ["Predictor"]
