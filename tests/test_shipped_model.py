"""The shipped models: they load, and they do their job on simulated data."""

import numpy as np
import pytest

from bgrem import BGRemBackground, available_models, load_model
from bgrem.model.registry import DEFAULT_MODEL


def test_optical_is_shipped_and_default():
    assert DEFAULT_MODEL == 'optical'
    assert 'optical' in available_models()
    model = load_model('optical')
    card = model.card
    assert card.name == 'optical'
    assert 1 <= card.default_steps <= 15
    training = card.training
    assert training['epochs_run'] >= 1
    assert training['best_val_loss'] < 0.2  # an untrained network starts near 0.8
    assert model.network.count_params() == 1_055_924


def test_optical_beats_a_global_median_on_a_simulated_field():
    """
    Measured, not assumed: on a held-out simulated field the cleaned image is
    much closer to the true source image than the data minus its median.
    """
    galsim = pytest.importorskip('galsim')  # noqa: F841
    from bgrem.simulate import OpticalFieldConfig, simulate_optical_field

    field = simulate_optical_field(OpticalFieldConfig(shape=(256, 256)), seed=12345)
    data = field.observed
    noise = float(np.median(field.noise_sigma))
    bkg = BGRemBackground(data, diffusion_steps=2)  # no model argument: the default
    assert bkg.model.name == 'optical'
    mae_bgrem = np.mean(np.abs(bkg.unclipped - field.sources)) / noise
    mae_median = np.mean(np.abs(data - np.median(data) - field.sources)) / noise
    assert mae_median > 0.7  # the noise alone gives about 0.8
    assert mae_bgrem < 0.5 * mae_median
