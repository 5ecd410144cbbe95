"""
Simulated images with ground truth for training and testing.

`simulate_optical_field` draws a MeerLICHT-like optical field (stars and
galaxies on a spatially varying sky with realistic noise) and returns the
observed image together with its noiseless sources and background.  GalSim
is needed to simulate (``pip install 'bgrem[train]'``), not to import.
"""

from .optical import (HAS_GALSIM, OpticalFieldConfig, SimulatedField,
                      simulate_optical_field, simulate_optical_tiles)
from .gamma import GammaPatch, GammaSky, GammaSkyConfig, simulate_gamma_patches

__all__ = ['OpticalFieldConfig', 'SimulatedField', 'simulate_optical_field',
           'simulate_optical_tiles', 'HAS_GALSIM',
           'GammaSkyConfig', 'GammaSky', 'GammaPatch', 'simulate_gamma_patches']
