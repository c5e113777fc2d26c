"""Stage-2 methods on a frozen backbone, complete on import: ``TWO_STAGE`` holds every one.

``TWO_STAGE.get(name)(backbone, seed, **params) -> (head, info)``: decoupling (cRT, tau-norm, LWS;
Kang et al. 2020), feature generation (TailCalib, TailCalibX; Vigneswaran et al. 2021), MiSLAS
(Zhong et al. 2021), whose head maps images, not features (``mislas``), and weight balancing's
MaxNorm stage (Alshammari et al. 2022, ``maxnorm``).
"""

from . import feature_generation, maxnorm, mislas  # noqa: F401  (register TailCalib(X), MaxNorm, MiSLAS)
from .checks import check_stage2, method_parameters, training_passes
from .decoupling import TWO_STAGE, FrozenBackbone

__all__ = ["TWO_STAGE", "FrozenBackbone", "check_stage2", "method_parameters", "training_passes"]
