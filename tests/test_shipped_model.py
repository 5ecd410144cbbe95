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


def test_gamma_is_shipped_for_count_maps():
    model = load_model('gamma')
    card = model.card
    assert 'gamma' in available_models()
    assert card.normalization['method'] == 'poisson'
    assert (card.tile_size, card.keep_size) == (64, 48)
    assert card.training['dataset']['kind'] == 'gamma'
    assert card.training['best_val_loss'] < 0.2


@pytest.mark.parametrize('flavour', ['expected', 'poisson'])
def test_gamma_removes_the_diffuse_emission(flavour):
    """On patches of a sky it was not trained on, most of the diffuse emission goes."""
    pytest.importorskip('reproject')
    from bgrem.simulate import GammaSky, GammaSkyConfig

    sky = GammaSky(GammaSkyConfig(nside=128), sky_seed=3)
    errors_bgrem, errors_median = [], []
    for seed in range(4):
        patch = sky.patch((float(10 * seed), 2.0), seed=seed, flavour=flavour)  # in the plane
        bkg = BGRemBackground(patch.observed, model='gamma')
        assert bkg.normalization_map is not None
        errors_bgrem.append(np.mean(np.abs(bkg.unclipped - patch.sources)))
        errors_median.append(np.mean(np.abs(patch.observed - np.median(patch.observed)
                                            - patch.sources)))
    assert np.mean(errors_bgrem) < 0.2 * np.mean(errors_median)  # measured: 0.03 and 0.05
