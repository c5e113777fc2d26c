"""TailCalib / TailCalibX feature generation (Vigneswaran et al. 2021, "Feature Generation for
Long-tail Classification", ICVGIP; SPEC section 6), with the ``tailcalib`` package's interface.

``TailCalib(base_engine="numpy" | "pytorch").generate(X, y, ...)`` balances frozen-backbone
features by sampling tail features from calibrated Gaussians; ``convert_others`` Tukey-transforms
validation / test features. Modules: ``generator`` (the class and its input checks), ``calibration``
(the math, written once for both engines), ``plan`` (shared index bookkeeping), ``engines`` (the
numpy / torch primitives), ``toy`` (the 2-D toy example).
"""

from .calibration import (
    COVARIANCE_JITTER,
    TUKEY_LOG_EPS,
    calibrated_covariance,
    calibrated_mean,
    l2_normalize,
    nearest_classes,
    tukey_transform,
)
from .engines import ENGINES
from .generator import TailCalib, tailcalib
from .plan import draw_counts
from .toy import balanced_accuracy, fit_logistic_regression, toy_blobs, toy_example

__all__ = [
    "COVARIANCE_JITTER",
    "ENGINES",
    "TUKEY_LOG_EPS",
    "TailCalib",
    "balanced_accuracy",
    "calibrated_covariance",
    "calibrated_mean",
    "draw_counts",
    "fit_logistic_regression",
    "l2_normalize",
    "nearest_classes",
    "tailcalib",
    "toy_blobs",
    "toy_example",
    "tukey_transform",
]
