import json

import numpy as np
import pytest

from bgrem.evaluation import (FIELD_CONDITIONS, HAS_SEXTRACTOR, SubtractedImage,
                              condition_config, evaluate_conditions, evaluate_field,
                              format_report, median_filter_subtraction, plot_report,
                              subtract_background, summarize)

pytest.importorskip('galsim')


@pytest.fixture(scope='module')
def sky_image():
    yy, xx = np.mgrid[:200, :300]
    sky = 100.0 + 0.05 * xx + 0.02 * yy
    return sky, sky + np.random.default_rng(0).normal(0, 4.0, sky.shape)


@pytest.mark.parametrize('method', ['background2d', 'sep', pytest.param(
    'sextractor', marks=pytest.mark.skipif(not HAS_SEXTRACTOR, reason='no source-extractor'))])
def test_baselines_recover_a_smooth_sky(sky_image, method):
    sky, data = sky_image
    # no median filter: on a mesh of 4 x 5 boxes it distorts a gradient at the edges
    subtracted = subtract_background(data, method, filter_size=1)
    assert subtracted.name == method
    error = np.abs(subtracted.smooth_background - sky)
    assert np.median(error) < 0.5  # gradient of 15 across, noise 4
    assert np.max(error[64:-64, 64:-64]) < 1.5
    assert np.median(subtracted.background_rms) == pytest.approx(4.0, rel=0.05)
    assert np.allclose(subtracted.cleaned, data - subtracted.smooth_background)
    assert subtracted.seconds > 0


def test_bgrem_outputs_keep_the_removed_component(sky_image, everything_model):
    from bgrem import BGRemBackground

    sky, data = sky_image
    bkg = BGRemBackground(data, everything_model)  # the removed component is the data
    for clipped in (False, True):
        subtracted = SubtractedImage.from_bgrem(bkg, clipped=clipped)
        assert subtracted.name == ('bgrem_clipped' if clipped else 'bgrem')
        # the data are recoverable: PSF fits use data - smooth_background
        np.testing.assert_allclose(subtracted.background + subtracted.cleaned,
                                   np.asarray(bkg.background) + np.asarray(bkg.cleaned))
        np.testing.assert_allclose(subtracted.unclipped, np.asarray(
            bkg.cleaned if clipped else bkg.unclipped))


def test_bad_method_and_condition(sky_image):
    with pytest.raises(ValueError, match='method'):
        subtract_background(sky_image[1], 'median')
    with pytest.raises(ValueError, match='unknown condition'):
        condition_config('cloudy')
    crowded = condition_config('crowded', shape=(64, 64))
    assert crowded.shape == (64, 64)
    assert crowded.star_density == FIELD_CONDITIONS['crowded']['star_density']


def test_smoothed_control_scales_the_noise():
    noise = np.random.default_rng(1).normal(0, 3.0, (400, 400))
    image = SubtractedImage('x', noise, noise, np.zeros_like(noise), np.full(noise.shape, 3.0))
    smoothed = image.smoothed(2.0)
    assert smoothed.name == 'x_smoothed'
    assert np.std(smoothed.cleaned) == pytest.approx(np.median(smoothed.background_rms),
                                                     rel=0.05)


def test_median_filter_control_flattens_structure_and_eats_extended_light():
    from astropy.modeling.models import Gaussian2D

    yy, xx = np.mgrid[:160, :200]
    sky = 100 + 8 * np.sin(xx / 15.0) * np.cos(yy / 13.0)  # structure of tens of pixels
    star = Gaussian2D(500, 50, 80, 1.5, 1.5)(xx, yy)
    galaxy = Gaussian2D(20, 140, 80, 15, 10)(xx, yy)
    data = sky + star + galaxy + np.random.default_rng(2).normal(0, 1.0, sky.shape)
    original = data.copy()
    subtracted = median_filter_subtraction(data, 19)
    mesh = subtract_background(data, 'sep')  # 64-pixel mesh, for comparison
    np.testing.assert_array_equal(data, original)
    assert subtracted.name == 'median_filter' and subtracted.seconds > 0
    # the sky's structure is followed to about the noise (1), which sep's mesh misses
    far = (np.hypot(xx - 50, yy - 80) > 15) & (np.hypot(xx - 140, yy - 80) > 50)
    assert np.std((subtracted.cleaned - star - galaxy)[far]) < 1.3
    assert np.std((mesh.cleaned - star - galaxy)[far]) > 3
    assert np.median(subtracted.background_rms) == pytest.approx(1.0, rel=0.2)
    # the star keeps most of its light; the galaxy, larger than the window, little,
    # where the mesh keeps it
    near_star = np.hypot(xx - 50, yy - 80) < 6
    assert 0.9 < subtracted.cleaned[near_star].sum() / star[near_star].sum() < 1.0
    inside = ((xx - 140) / 30) ** 2 + ((yy - 80) / 20) ** 2 < 1
    assert subtracted.cleaned[inside].sum() < 0.3 * galaxy[inside].sum()
    assert mesh.cleaned[inside].sum() > 0.9 * galaxy[inside].sum()
    with pytest.raises(ValueError, match='size'):
        median_filter_subtraction(data, 0)


def test_evaluate_field_with_a_model_that_removes_everything(everything_model, tmp_path):
    from bgrem.simulate import simulate_optical_field

    field = simulate_optical_field(condition_config('default', shape=(160, 160)), seed=5)
    result = evaluate_field(field, everything_model, methods=['background2d', 'sep'],
                            thresholds=[0.5, 3.0, 10.0])
    assert set(result['curves']) == {'bgrem', 'bgrem_highpass', 'background2d', 'sep',
                                     'sep_smoothed', 'median_filter'}
    assert result['curves']['bgrem_highpass']['true_positives'] == [0, 0, 0]
    # the median-filter control is measured like a baseline, the smoothing one is not
    assert {'bgrem_highpass', 'median_filter', 'true_sky', 'bgrem_psf'} <= set(result['flux'])
    assert result['flux']['bgrem_highpass']['ratio'] == []
    assert 'sep_smoothed' not in result['flux']
    assert set(result['extended']) == set(result['residual']) == {
        'bgrem', 'bgrem_clipped', 'background2d', 'sep', 'median_filter'}
    # Nothing is left to detect in an all-background output ...
    assert result['curves']['bgrem']['true_positives'] == [0, 0, 0]
    # ... while the baselines find sources, fewer at higher thresholds.
    tp = result['curves']['background2d']['true_positives']
    assert tp[1] > 0 and tp[0] >= tp[1] >= tp[2]
    assert result['flux']['bgrem']['ratio'] == []
    # The true-sky reference measures the isolated stars about right.
    reference = result['flux']['true_sky']
    ratio, snr = np.asarray(reference['ratio']), np.asarray(reference['snr'])
    assert ratio.size > 0 and np.all(np.abs(ratio - 1) < 3 / snr)  # within 3 sigma
    # PSF fitting with the field's true PSF on the true-sky data: within the
    # errors, and closer to the truth than the Kron fluxes.
    psf = result['flux']['true_sky_psf']
    psf_ratio = np.asarray(psf['ratio'])
    assert psf_ratio.size >= ratio.size
    assert np.all(np.abs(psf_ratio - 1) < 3 / np.asarray(psf['snr']))
    assert np.median(np.abs(psf_ratio - 1)) < np.median(np.abs(ratio - 1))
    assert result['flux']['bgrem_psf']['ratio'] == []
    sources = field.sources[field.sources < 0.05 * np.asarray(field.noise_sigma)]
    assert result['residual']['bgrem']['std'] < 0.1  # the output is zero, truth ~ 0 there
    assert abs(result['residual']['background2d']['std'] - 1) < 0.2
    assert sources.size > 0

    report = {'settings': {'model': 'all', 'diffusion_steps': 1, 'n_fields': 1,
                           'shape': [160, 160], 'date': 'today'},
              'conditions': {'default': summarize([result])}, 'fields': {'default': [result]}}
    json.dumps(report)
    text = format_report(report)
    assert '[default]' in text and 'sep_smoothed' in text and 'median_filter' in text
    paths = plot_report(report, tmp_path)
    assert [p.name for p in paths] == ['tp_vs_fp.png', 'flux_ratio.png']
    assert all(p.stat().st_size > 1000 for p in paths)
    # A tiny run may match no source at all: the plots are still made.
    for name in result['flux']:
        result['flux'][name] = {'ratio': [], 'snr': []}
    assert all(p.stat().st_size > 1000 for p in plot_report(report, tmp_path / 'empty'))


def test_evaluate_gamma_with_a_model_that_removes_everything(tmp_path):
    pytest.importorskip('reproject')
    from conftest import FunctionModel

    from bgrem.evaluation import evaluate_gamma, format_gamma_report, plot_gamma_report
    from bgrem.simulate import GammaSkyConfig

    model = FunctionModel(lambda images, variances: images / np.sqrt(variances), name='all',
                          normalization={'method': 'poisson', 'median': 'global'},
                          tile_size=64, keep_size=48)
    report = evaluate_gamma(model, n_patches=4, config=GammaSkyConfig(nside=64))
    for flavour in ('expected', 'poisson'):
        result = report[flavour]
        assert result['n_true'] > 0
        assert set(result['curves']) == {'bgrem', 'background2d', 'sep'}
        assert max(result['curves']['bgrem']['true_positives']) == 0
        assert result['slope']['bgrem_clipped'] == pytest.approx(0.0, abs=1e-6)
        # the baselines do find sources (at low thresholds blends merge them: not monotone)
        assert max(result['curves']['sep']['true_positives']) > 0
        assert len(result['mean_pixel']['truth']) == 4
    json.dumps(report)
    assert '[poisson]' in format_gamma_report(report)
    assert all(p.stat().st_size > 1000 for p in plot_gamma_report(report, tmp_path))


def test_extended_flux_measures_twice_the_half_light_ellipse():
    from astropy.table import QTable
    from photutils.aperture import EllipticalAperture

    from bgrem.evaluation.suite import _extended_flux, _large_galaxy_apertures

    truth = QTable({'x': [60.0, 150.0, 5.0], 'y': [50.0, 50.0, 50.0],
                    'half_light_radius': [10.0, 3.0, 10.0], 'ellipticity': [0.36, 0.0, 0.0],
                    'position_angle': [30.0, 0.0, 0.0], 'large': [True, False, True]})
    apertures = _large_galaxy_apertures(truth, (100, 200))
    assert len(apertures) == 1  # the small galaxy and the one cut by the edge are left out
    galaxy, aperture = apertures[0]
    assert galaxy['x'] == 60.0
    # a = 2 r / sqrt(q), b = 2 r sqrt(q) with q = 1 - ellipticity = 0.64
    assert (aperture.a, aperture.b) == pytest.approx((25.0, 16.0))
    assert aperture.theta.to_value('deg') == pytest.approx(30.0)

    sources = np.zeros((100, 200))
    inside = EllipticalAperture((60.0, 50.0), 25.0, 16.0, theta=np.deg2rad(30.0))
    sources += inside.to_mask(method='exact').to_image(sources.shape)
    outside_only = np.zeros_like(sources)
    outside_only[:, 150:] = 5.0
    fractions = _extended_flux({'kept': sources, 'half': 0.5 * sources + outside_only,
                                'lost': outside_only}, truth, sources)
    assert fractions['kept'] == pytest.approx([1.0])
    assert fractions['half'] == pytest.approx([0.5])
    assert fractions['lost'] == pytest.approx([0.0])


def test_evaluate_command_with_workers_matches_one_process(tiny_model_path, tmp_path):
    import subprocess
    import sys

    from bgrem.evaluation.suite import EVALUATION_SEED

    settings = dict(conditions=['sparse'], n_fields=2, shape=(96, 96), methods=['sep'])
    command = [sys.executable, '-m', 'bgrem.scripts.main', 'evaluate', '--model',
               str(tiny_model_path), '--conditions', 'sparse', '--fields', '2', '--size', '96',
               '--methods', 'sep', '--workers', '2', '-q', '-o', str(tmp_path)]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert '[sparse]' in run.stdout
    written = {p.name for p in tmp_path.iterdir()}
    assert written == {'report.json', 'report.txt', 'tp_vs_fp.png', 'flux_ratio.png'}
    in_workers = json.loads((tmp_path / 'report.json').read_text())
    here = evaluate_conditions(tiny_model_path, **settings)
    # a condition's fields have the same seeds whichever conditions run
    assert [f['seed'] for f in here['fields']['sparse']] == [
        EVALUATION_SEED + 10000 * list(FIELD_CONDITIONS).index('sparse') + i for i in (0, 1)]
    for mine, theirs in zip(here['fields']['sparse'], in_workers['fields']['sparse']):
        mine, theirs = dict(mine), dict(theirs)
        assert mine.pop('seconds').keys() == theirs.pop('seconds').keys()
        assert json.loads(json.dumps(mine)) == theirs
    assert sum(here['fields']['sparse'][0]['curves']['sep']['true_positives']) > 0


def test_evaluate_conditions_refuses_workers_with_a_loaded_model(tiny_model):
    with pytest.raises(ValueError, match='name or path'):
        evaluate_conditions(tiny_model, conditions=['sparse'], n_fields=1, shape=(64, 64),
                            workers=2)
    with pytest.raises(ValueError, match='workers'):
        evaluate_conditions('optical', conditions=['sparse'], n_fields=1, shape=(64, 64),
                            workers=0)
