"""The training engine: a study's runs trained in one pass, resumable (see ``engine.train``)."""

from .engine import RunOutcome, study_key, train
from .spec import RunSpec, TrainConfig

__all__ = ["RunOutcome", "RunSpec", "TrainConfig", "study_key", "train"]
