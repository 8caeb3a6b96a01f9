"""Online recommenders that learn one feedback record at a time, and their hybrid.

>>> from models.reco import Recommender
>>> Recommender().recommend("nobody")
[]
"""

from models.reco.blend import LearnedWeights, blend, tune_weights
from models.reco.cooc import ItemCooccurrence
from models.reco.hybrid import SOURCES, Recommender
from models.reco.mf import BPRMF, BiasedMF
from models.reco.persist import load, save
from models.reco.state import digest, from_state, to_state

__all__ = [
    "SOURCES",
    "BPRMF",
    "BiasedMF",
    "ItemCooccurrence",
    "LearnedWeights",
    "Recommender",
    "blend",
    "digest",
    "from_state",
    "load",
    "save",
    "to_state",
    "tune_weights",
]
