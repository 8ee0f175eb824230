"""A residual correction on top of a frozen ViTaL local policy (issue 19, item 5; docs/vital.md
"Residual"): a small tanh-bounded offset added to each local chunk's positions, learned with SAC
in simulation from the task's progress.

  configuration_residual.py  ResidualConfig (the network and SAC's settings)
  modeling_residual.py       ResidualActor, TwinCritic, save/load (safetensors + JSON)
  sac.py                     ReplayBuffer, SACLearner (soft actor-critic, Haarnoja et al. 2018)
"""

from .configuration_residual import FEATURES, ResidualConfig
from .modeling_residual import (ResidualActor, ResidualLoadError, TwinCritic, load_residual,
                                save_residual)
from .sac import ReplayBuffer, SACLearner

__all__ = ["FEATURES", "ReplayBuffer", "ResidualActor", "ResidualConfig", "ResidualLoadError",
           "SACLearner", "TwinCritic", "load_residual", "save_residual"]
