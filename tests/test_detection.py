"""
Tests of `bgrem.detect_sources` and its writers.

Most tests hand `detect_sources` a `KnownBackground`: a background removal
whose outputs are built from the true source image, so detection and
photometry are tested against exact truth without a trained network.  The
real `BGRemBackground` path is tested with a tiny random model (machinery)
and with the shipped model (results).
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData
from astropy.table import QTable
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from bgrem import BGRemBackground, detect_sources
from bgrem.detection import DetectionResult, median_highpass, write_catalog, write_regions
from bgrem.detection.core import (FLAG_DEBLENDED, FLAG_EDGE, FLAG_PSF_FIT, _reference_stars,
                                  _stellar_fwhm)

NOISE = 5.0
SKY = 100.0
SHAPE = (200, 300)


def gaussian_stars(positions, fluxes, shape=SHAPE, sigma=1.5):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape)
    for (x, y), flux in zip(positions, fluxes):
        image += flux / (2 * np.pi * sigma ** 2) * np.exp(
            -((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    return image


class KnownBackground:
    """
    A background removal with known outputs: the data are ``SKY + sources +
    noise``; the cleaned image is the true source image (or ``denoised``,
    the sources as a network changed them) plus a fraction ``residual`` of
    the noise.
    """

    def __init__(self, sources, noise, residual=0.2, wcs=None, unit=None, mask=None,
                 denoised=None):
        self.unclipped = (sources if denoised is None else denoised) + residual * noise
        self.cleaned = np.maximum(self.unclipped, 0)
        self.background = SKY + sources + noise - self.cleaned
        self.background_rms = np.full(sources.shape, NOISE)
        self.smooth_background = np.full(sources.shape, SKY)
        self.mask = np.zeros(sources.shape, bool) if mask is None else mask
        self.coverage_mask = None
        self.wcs, self.unit = wcs, unit
        if unit is not None:
            for name in ('unclipped', 'cleaned', 'background', 'background_rms',
                         'smooth_background'):
                setattr(self, name, getattr(self, name) << unit)

    def provenance(self):
        return {'BGRMODEL': ('known', 'test double')}


def jittered_grid(rng, shape, n_x, n_y, margin, jitter=3.0):
    """
    ``n_x * n_y`` positions (x, y) on a grid ``margin`` pixels (one value,
    or ``(y, x)``) inside ``shape``, each moved by up to ``jitter`` pixels.
    """
    margin_y, margin_x = np.broadcast_to(margin, 2)
    grid_x, grid_y = np.meshgrid(np.linspace(margin_x, shape[1] - margin_x, n_x),
                                 np.linspace(margin_y, shape[0] - margin_y, n_y))
    return (np.column_stack([grid_x.ravel(), grid_y.ravel()])
            + rng.uniform(-jitter, jitter, (n_x * n_y, 2)))


@pytest.fixture(scope='module')
def field():
    rng = np.random.default_rng(1)
    # a jittered 6 x 5 grid: no two stars blend
    positions = jittered_grid(rng, SHAPE, 6, 5, 25, jitter=5)
    fluxes = rng.uniform(500, 5000, 30)
    sources = gaussian_stars(positions, fluxes)
    noise = rng.normal(0, NOISE, SHAPE)
    return positions, fluxes, sources, noise


def match(catalog, positions):
    distance, index = cKDTree(positions).query(
        np.column_stack([catalog['x_centroid'], catalog['y_centroid']]))
    return distance, index


@pytest.mark.parametrize('method', ['photutils', 'sep'])
@pytest.mark.parametrize('photometry_on', ['unclipped', 'data'])
def test_finds_and_measures_injected_stars(field, method, photometry_on):
    positions, fluxes, sources, noise = field
    bkg = KnownBackground(sources, noise)
    result = detect_sources(SKY + sources + noise, bkg, threshold=1.0, method=method,
                            photometry_on=photometry_on)
    catalog = result.catalog
    assert isinstance(result, DetectionResult)
    assert result.background is bkg
    assert len(catalog) == len(fluxes)
    distance, index = match(catalog, positions)
    assert np.unique(index).size == len(fluxes)
    assert np.max(distance) < 0.2
    # twice the FWHM of a sigma = 1.5 Gaussian
    assert catalog.meta['aperture_radius'] == pytest.approx(2 * 2.3548 * 1.5, rel=0.05)
    ratio = np.asarray(catalog['aperture_flux']) / fluxes[index]
    assert np.median(ratio) == pytest.approx(0.9961, abs=0.01)  # Gaussian within 2 FWHM
    kron_pull = (np.asarray(catalog['kron_flux']) - fluxes[index]) / np.asarray(
        catalog['kron_flux_err'])
    assert np.all(np.abs(kron_pull) < 4)
    assert np.all(catalog['flux'] == catalog['kron_flux'])
    assert np.allclose(catalog['snr'], catalog['flux'] / catalog['flux_err'])
    assert np.all(catalog['flags'] == 0)
    assert catalog.meta['method'] == method
    assert catalog.meta['bgrem'] == {'BGRMODEL': 'known'}
    assert result.segmentation.n_labels == len(fluxes)


def test_photutils_and_sep_agree_within_errors(field):
    positions, fluxes, sources, noise = field
    bkg = KnownBackground(sources, noise, residual=1.0)
    cat_p = detect_sources(None, bkg, threshold=3.0, method='photutils').catalog
    cat_s = detect_sources(None, bkg, threshold=3.0, method='sep').catalog
    assert len(cat_p) == len(cat_s)
    distance, index = cKDTree(np.column_stack([cat_s['x_centroid'], cat_s['y_centroid']])).query(
        np.column_stack([cat_p['x_centroid'], cat_p['y_centroid']]))
    assert np.max(distance) < 0.3
    for name in ('aperture_flux', 'kron_flux'):
        difference = np.asarray(cat_p[name]) - np.asarray(cat_s[name])[index]
        error = np.asarray(cat_p[name + '_err'])
        assert np.median(np.abs(difference) / error) < 0.3, name
        assert np.max(np.abs(difference) / error) < 2, name


def test_clipping_biases_faint_fluxes_up():
    rng = np.random.default_rng(3)
    positions = np.column_stack([np.linspace(20, 280, 12), np.full(12, 100.0)])
    fluxes = np.full(12, 60.0)  # faint: S/N about 3 in the aperture
    sources = gaussian_stars(positions, fluxes)
    bkg = KnownBackground(sources, rng.normal(0, NOISE, SHAPE), residual=0.5)
    catalog = detect_sources(None, bkg, threshold=0.5, aperture_radius=4.0).catalog
    distance, index = match(catalog, positions)
    near = distance < 1.5
    assert near.sum() >= 8
    clipped = np.asarray(catalog['clipped_aperture_flux'])[near]
    unclipped = np.asarray(catalog['aperture_flux'])[near]
    assert np.all(clipped >= unclipped)
    assert np.median(clipped / fluxes[index[near]]) > 1.1
    assert abs(np.median(unclipped / fluxes[index[near]]) - 1) < np.median(clipped / fluxes[
        index[near]]) - 1


def test_units_wcs_and_empty_result():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [150.0, 100.0]
    wcs.wcs.cdelt = [-1e-4, 1e-4]
    sources = gaussian_stars([(149.0, 99.0)], [3000.0])  # CRPIX is 1-based
    noise = np.random.default_rng(5).normal(0, NOISE, SHAPE)
    bkg = KnownBackground(sources, noise, wcs=wcs, unit=u.electron)
    catalog = detect_sources(None, bkg, threshold=2.0).catalog
    assert len(catalog) == 1
    assert catalog['flux'].unit == u.electron
    assert catalog['sky_centroid'][0].ra.deg == pytest.approx(150.0, abs=1e-5)
    assert catalog['sky_centroid'][0].dec.deg == pytest.approx(2.0, abs=1e-5)

    empty = KnownBackground(np.zeros(SHAPE), noise, residual=0.0)
    catalog, segmentation, _ = detect_sources(None, empty, threshold=2.0)
    assert len(catalog) == 0 and segmentation is None
    assert 'x_centroid' in catalog.colnames and 'aperture_flux' in catalog.colnames
    assert len(detect_sources(None, empty, threshold=2.0, method='sep').catalog) == 0


@pytest.mark.parametrize('method', ['photutils', 'sep'])
def test_deblending_splits_a_pair(method):
    sources = gaussian_stars([(100.0, 100.0), (106.0, 100.0)], [8000.0, 6000.0])
    noise = np.random.default_rng(6).normal(0, NOISE, SHAPE)
    bkg = KnownBackground(sources, noise, residual=0.0)
    blended = detect_sources(None, bkg, threshold=1.0, method=method).catalog
    assert len(blended) == 1
    deblended = detect_sources(None, bkg, threshold=1.0, method=method, deblend=True).catalog
    assert len(deblended) == 2
    assert np.all(deblended['flags'] & FLAG_DEBLENDED)
    assert sorted(np.round(deblended['x_centroid'])) == [100, 106]


def test_edge_and_masked_pixels_are_flagged():
    sources = gaussian_stars([(2.0, 100.0), (150.0, 100.0), (250.0, 100.0)], [3000.0] * 3)
    mask = np.zeros(SHAPE, bool)
    mask[100, 252] = True
    bkg = KnownBackground(sources, np.zeros(SHAPE), mask=mask)
    bkg.cleaned[100, 252] = np.nan  # an invalid pixel inside the third source's aperture
    catalog = detect_sources(None, bkg, threshold=1.0).catalog
    catalog.sort('x_centroid')
    assert list(catalog['flags'] & FLAG_EDGE) == [FLAG_EDGE, 0, FLAG_EDGE]


def test_bad_arguments(field):
    positions, fluxes, sources, noise = field
    bkg = KnownBackground(sources, noise)
    for kwargs, message in [({'method': 'sextractor'}, 'method'),
                            ({'photometry_on': 'clipped'}, 'photometry_on'),
                            ({'threshold': -1}, 'threshold'),
                            ({'n_pixels': 0}, 'n_pixels'),
                            ({'aperture_radius': 0}, 'aperture_radius'),
                            ({'local_bkg_width': -2}, 'local_bkg_width'),
                            ({'highpass_width': 2}, 'highpass_width'),
                            ({'highpass_width': 7.5}, 'highpass_width'),
                            ({'diffusion_steps': 2}, 'not both')]:
        with pytest.raises(ValueError, match=message):
            detect_sources(SKY + sources, bkg, **kwargs)
    with pytest.raises(ValueError, match='shape'):
        detect_sources(np.zeros((10, 10)), bkg)


def test_with_a_real_background(tiny_model):
    """The default path computes BGRemBackground; NDData WCS and unit flow through."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [10.0, -30.0]
    wcs.wcs.cdelt = [-1e-4, 1e-4]
    data = SKY + gaussian_stars([(40.0, 50.0)], [5e4], shape=(96, 112)) + \
        np.random.default_rng(0).normal(0, NOISE, (96, 112))
    original = data.copy()
    catalog, segmentation, bkg = detect_sources(NDData(data, wcs=wcs, unit='adu'),
                                                model=tiny_model, diffusion_steps=1)
    assert isinstance(bkg, BGRemBackground)
    assert bkg.diffusion_steps == 1
    assert catalog.meta['bgrem']['BGRSTEPS'] == 1
    assert np.array_equal(data, original)
    if len(catalog):
        assert catalog['flux'].unit == u.adu
        assert 'sky_centroid' in catalog.colnames


def test_write_catalog_and_regions(field, tmp_path):
    positions, fluxes, sources, noise = field
    catalog = detect_sources(None, KnownBackground(sources, noise), threshold=1.0).catalog
    write_catalog(catalog, tmp_path / 'cat.ecsv')
    back = QTable.read(tmp_path / 'cat.ecsv')
    assert np.allclose(back['aperture_flux'], catalog['aperture_flux'])
    assert back.meta['threshold'] == 1.0
    write_catalog(catalog, tmp_path / 'cat.fits')
    back = QTable.read(tmp_path / 'cat.fits')
    assert np.allclose(back['x_centroid'], catalog['x_centroid'])
    with pytest.raises(ValueError, match='format'):
        write_catalog(catalog, tmp_path / 'cat.txt')

    write_regions(catalog, tmp_path / 'cat.reg')
    from regions import Regions

    regions = Regions.read(tmp_path / 'cat.reg', format='ds9')
    assert len(regions) == len(catalog)
    assert regions[0].center.x == pytest.approx(catalog['x_centroid'][0], abs=1e-3)
    assert regions[0].radius == pytest.approx(catalog.meta['aperture_radius'], rel=1e-3)


def test_background_arrays_are_not_modified(field):
    positions, fluxes, sources, noise = field
    bkg = KnownBackground(sources, noise)
    bkg.cleaned[5, 5] = np.nan  # an invalid pixel, which detection sets to zero internally
    before = {name: np.array(getattr(bkg, name)) for name in ('cleaned', 'unclipped',
                                                              'background_rms')}
    detect_sources(None, bkg, threshold=1.0, photometry_on='data')
    for name, array in before.items():
        assert np.array_equal(getattr(bkg, name), array, equal_nan=True), name


def moffat_stars(positions, fluxes, shape=SHAPE, alpha=2.0, beta=2.5):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape)
    for (x, y), flux in zip(positions, fluxes):
        r2 = (xx - x) ** 2 + (yy - y) ** 2
        image += flux * (beta - 1) / (np.pi * alpha ** 2) * (1 + r2 / alpha ** 2) ** -beta
    return image


def test_aperture_correction_recovers_the_wings_of_point_sources():
    rng = np.random.default_rng(7)
    grid_x, grid_y = np.meshgrid(np.linspace(40, SHAPE[1] - 40, 5), [60.0, 140.0])
    positions = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    fluxes = rng.uniform(2e4, 5e4, len(positions))  # bright: S/N > 50
    bkg = KnownBackground(moffat_stars(positions, fluxes), rng.normal(0, NOISE, SHAPE),
                          residual=0.0)
    plain = detect_sources(None, bkg, threshold=1.0).catalog
    corrected = detect_sources(None, bkg, threshold=1.0, aperture_correction=True).catalog
    index = match(plain, positions)[1]
    ratio_plain = np.median(np.asarray(plain['flux']) / fluxes[index])
    ratio_corrected = np.median(np.asarray(corrected['flux']) / fluxes[index])
    assert ratio_plain < 0.97  # a beta = 2.5 Moffat has wide wings
    assert abs(ratio_corrected - 1) < 0.015
    assert corrected.meta['aperture_correction_sources'] == len(fluxes)
    assert corrected.meta['aperture_correction'] > 1.02
    assert np.allclose(corrected['kron_flux'], plain['kron_flux'])  # Kron column unchanged


def test_stellar_fwhm_finds_the_stars_among_more_extended_sources():
    rng = np.random.default_rng(3)
    stars = rng.normal(3.0, 0.05, 12)
    # more extended sources than stars, a few of them of similar size
    extended = np.concatenate([np.exp(rng.uniform(np.log(8), np.log(60), 25)),
                               rng.normal(30.0, 1.5, 6)])
    fwhm = rng.permutation(np.concatenate([stars, extended]))
    assert np.median(fwhm) > 8
    assert _stellar_fwhm(fwhm) == pytest.approx(np.median(stars), rel=0.02)
    assert _stellar_fwhm(stars) == pytest.approx(np.median(stars))


def test_reference_stars_skip_a_tight_locus_of_bright_diffuse_sources():
    # sky bumps left in a cleaned image: bright, wide, more numerous than the
    # stars and of similar size to each other; the stars are the compact ones
    rng = np.random.default_rng(5)
    n_stars, n_bumps = 30, 50
    fwhm = np.concatenate([rng.normal(6.0, 0.2, n_stars), rng.normal(20.0, 0.5, n_bumps)])
    kron = np.concatenate([rng.uniform(1e3, 5e3, n_stars), rng.uniform(2e3, 8e3, n_bumps)])
    grid = np.stack(np.meshgrid(np.arange(10), np.arange(8)), -1).reshape(-1, 2)
    x, y = (200.0 + 150.0 * rng.permutation(grid).T)
    catalog = QTable({'x_centroid': x, 'y_centroid': y, 'kron_flux': kron,
                      'kron_flux_err': kron / 100, 'fwhm': fwhm,
                      'flags': np.zeros(len(kron), int)})
    assert _stellar_fwhm(fwhm) == pytest.approx(20.0, rel=0.05)  # without the filter
    use, point_like, psf_fwhm = _reference_stars(catalog, (1800, 1800), 50.0, 2.5)
    assert psf_fwhm == pytest.approx(6.0, rel=0.03)
    assert point_like.tolist() == [True] * n_stars + [False] * n_bumps
    assert use.tolist() == point_like.tolist()  # all bright, isolated, inside, unflagged
    # a close neighbour, the edge and a flag each take a star out
    catalog['x_centroid'][1], catalog['y_centroid'][1] = x[0] + 20, y[0]
    catalog['x_centroid'][2] = 5.0
    catalog['flags'][3] = 1
    use = _reference_stars(catalog, (1800, 1800), 50.0, 2.5)[0]
    assert not use[:4].any() and use[4:n_stars].all()


@pytest.fixture(scope='module')
def moffat_field():
    rng = np.random.default_rng(11)
    positions = jittered_grid(rng, SHAPE, 6, 3, (50, 30))
    fluxes = rng.uniform(3e3, 3e4, len(positions))
    return positions, fluxes, moffat_stars(positions, fluxes), rng.normal(0, NOISE, SHAPE)


@pytest.mark.parametrize('method', ['photutils', 'sep'])
def test_psf_photometry_with_the_true_psf_is_unbiased(moffat_field, method):
    from photutils.psf import MoffatPSF

    positions, fluxes, sources, noise = moffat_field
    # The PSF is fitted on the data minus the smooth background, not on the
    # denoised output, whose star profiles a network may change (here: 10%
    # lower, wider stars).
    denoised = 0.9 * moffat_stars(positions, fluxes, alpha=2.2)
    bkg = KnownBackground(sources, noise, unit=u.adu, denoised=denoised)
    catalog = detect_sources(None, bkg, threshold=2.0, method=method,
                             psf_model=MoffatPSF(alpha=2.0, beta=2.5)).catalog
    distance, index = match(catalog, positions)
    assert len(catalog) == len(fluxes) and np.all(distance < 1)
    assert catalog['psf_flux'].unit == u.adu and catalog['psf_flux_err'].unit == u.adu
    assert catalog.meta['psf_photometry']
    assert not np.any(np.asarray(catalog['flags']) & FLAG_PSF_FIT)
    psf_flux, psf_err = (np.asarray(catalog[c].value) for c in ('psf_flux', 'psf_flux_err'))
    pulls = (psf_flux - fluxes[index]) / psf_err
    assert np.all(np.abs(pulls) < 4) and 0.5 < np.std(pulls) < 1.5  # errors are right
    kron_error = np.median(np.abs(np.asarray(catalog['flux'].value) / fluxes[index] - 1))
    psf_error = np.median(np.abs(psf_flux / fluxes[index] - 1))
    assert psf_error < 0.01 < kron_error  # Kron misses the beta = 2.5 wings
    assert np.all(psf_err < np.asarray(catalog['flux_err'].value))  # optimal weighting


def test_moffat_psf_fitted_to_the_image(moffat_field):
    from bgrem.detection._psf import pixel_integrated_moffat

    positions, fluxes, _, noise = moffat_field
    # stars as a detector records them: the Moffat integrated over the pixels
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    sources = sum(pixel_integrated_moffat(xx, yy, flux, x, y, 2.0, 2.5)
                  for (x, y), flux in zip(positions, fluxes))
    bkg = KnownBackground(sources, noise, denoised=0.9 * sources)
    catalog = detect_sources(None, bkg, threshold=2.0, psf_model='moffat').catalog
    fit = catalog.meta['psf_fit']
    assert fit['model'] == 'moffat' and fit['n_stars'] >= 15
    assert fit['alpha'] == pytest.approx(2.0, rel=0.02)
    assert fit['beta'] == pytest.approx(2.5, rel=0.03)
    assert fit['fwhm'] == pytest.approx(2 * 2.0 * np.sqrt(2 ** (1 / 2.5) - 1), rel=0.01)
    distance, index = match(catalog, positions)
    psf_flux = np.asarray(catalog['psf_flux'])
    assert np.median(np.abs(psf_flux / fluxes[index] - 1)) < 0.005
    assert not np.any(np.asarray(catalog['flags']) & FLAG_PSF_FIT)
    # the integrated profile keeps the flux and is flatter than the profile
    # sampled at the pixel centre (by 9% here)
    big_y, big_x = np.mgrid[-100:101, -100:101]
    assert pixel_integrated_moffat(big_x, big_y, 1.0, 0.3, -0.2, 2.0, 2.5).sum() == \
        pytest.approx(1.0, abs=1e-4)
    assert pixel_integrated_moffat(0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 2.5) < 0.95 * (
        1.5 / (np.pi * 2.0 ** 2))


def test_fit_moffat_psf_alone(moffat_field):
    from photutils.psf import ImagePSF

    from bgrem.detection import fit_moffat_psf, pixel_integrated_moffat

    positions, fluxes, _, noise = moffat_field
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    image = noise + sum(pixel_integrated_moffat(xx, yy, flux, x, y, 2.0, 2.5)
                        for (x, y), flux in zip(positions, fluxes))
    error = np.full(SHAPE, NOISE)
    psf, fit = fit_moffat_psf(image, error, positions[:, 0], positions[:, 1], 2.5,
                              max_stars=8)
    assert isinstance(psf, ImagePSF) and psf.oversampling.tolist() == [4, 4]
    assert fit['n_stars'] == 8 and fit['alpha'] == pytest.approx(2.0, rel=0.03)
    assert psf.data.sum() / 16 == pytest.approx(1.0, abs=0.01)  # unit flux
    # the returned model is the fitted profile: reusable as psf_model
    psf.x_0, psf.y_0, psf.flux = 10.3, 20.6, 500.0
    expected = pixel_integrated_moffat(xx, yy, 500.0, 10.3, 20.6, fit['alpha'], fit['beta'])
    assert np.abs(psf(xx, yy) - expected).max() < 1e-3 * expected.max()
    with pytest.raises(ValueError, match='far enough from the edges'):
        fit_moffat_psf(image, error, [1.0], [1.0], 2.5)
    # a core is not worth its two parameters on Moffat stars
    assert not fit['gaussian_core'] and fit['core_fraction'] == 0
    assert fit['ellipticity'] < 0.03
    with pytest.raises(ValueError, match='gaussian_core'):
        fit_moffat_psf(image, error, positions[:, 0], positions[:, 1], 2.5, gaussian_core=1)


def test_elliptical_moffat_is_galsims_sheared_moffat():
    galsim = pytest.importorskip('galsim')
    from bgrem.detection import pixel_integrated_moffat

    yy, xx = np.mgrid[-60:61, -60:61]
    for e1, e2 in [(0.3, 0.0), (0.0, -0.3), (0.2, 0.25)]:
        expected = galsim.Moffat(beta=3.0, scale_radius=2.0).shear(e1=e1, e2=e2).drawImage(
            nx=121, ny=121, scale=1.0).array
        image = pixel_integrated_moffat(xx, yy, 1.0, 0.0, 0.0, 2.0, 3.0, e1, e2)
        assert image.sum() == pytest.approx(1.0, abs=1e-4)  # the area is kept
        assert np.abs(image - expected).max() < 0.01 * expected.max()


def test_moffat_psf_follows_the_wings_and_ellipticity_of_an_atmospheric_psf():
    # a Kolmogorov PSF (near-Gaussian core, wider wings than a Moffat) with
    # an axis ratio of 0.85: one round-in-wings Moffat gives fluxes 2-3% low
    galsim = pytest.importorskip('galsim')
    from bgrem.detection import fit_moffat_psf
    from bgrem.detection._psf import psf_fluxes

    rng = np.random.default_rng(2)
    shape = (300, 400)
    positions = jittered_grid(rng, shape, 6, 4, 30)
    fluxes = rng.uniform(2e4, 2e5, len(positions))
    psf = galsim.Kolmogorov(fwhm=4.0).shear(q=0.85, beta=30 * galsim.degrees)
    image = galsim.ImageD(shape[1], shape[0], scale=1.0)
    for (x, y), flux in zip(positions, fluxes):
        # GalSim pixels are 1-based: the centre of pixel (0, 0) is (1, 1)
        psf.withFlux(flux).drawImage(image, center=galsim.PositionD(x + 1, y + 1),
                                     add_to_image=True)
    image = image.array + rng.normal(0, NOISE, shape)
    error = np.full(shape, NOISE)
    errors = {}
    for core in (False, 'auto'):
        model, fit = fit_moffat_psf(image, error, positions[:, 0], positions[:, 1], 4.0,
                                    gaussian_core=core)
        assert fit['gaussian_core'] is (core == 'auto') and fit['n_stars'] >= 20
        assert fit['ellipticity'] == pytest.approx(0.15, abs=0.01)
        assert fit['angle'] == pytest.approx(30, abs=2)
        flux = psf_fluxes(image, positions[:, 0], positions[:, 1], model, error)[0]
        errors[core] = np.median(np.abs(flux / fluxes - 1))
    assert fit['fwhm'] == pytest.approx(4.0, rel=0.01)
    assert 0.2 < fit['core_fraction'] < 0.8
    assert errors['auto'] < 0.015 < 0.025 < errors[False]  # measured: 1.1% and 3.4%


def test_moffat_psf_takes_no_core_for_leftover_sky_around_the_stars():
    # Moffat stars, each with a faint sky bump (0-1.4 sigma, 4 pixels wide)
    # near it: a core lowers the chi-square by 87, far more than the
    # information criterion's 2 * ln(n_pixels) = 19, but by 0.7% only
    from bgrem.detection import fit_moffat_psf, pixel_integrated_moffat

    rng = np.random.default_rng(2)
    shape = (300, 500)
    positions = jittered_grid(rng, shape, 10, 6, 30)
    fluxes = rng.uniform(3e3, 3e4, len(positions))
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = rng.normal(0, NOISE, shape)
    for (x, y), flux in zip(positions, fluxes):
        image += pixel_integrated_moffat(xx, yy, flux, x, y, 2.0, 2.5)
        bump_x, bump_y = x + rng.uniform(-4, 4), y + rng.uniform(-4, 4)
        image += 0.7 * NOISE * rng.uniform(0, 2) * np.exp(
            -((xx - bump_x) ** 2 + (yy - bump_y) ** 2) / (2 * 4.0 ** 2))
    _, fit = fit_moffat_psf(image, np.full(shape, NOISE), positions[:, 0], positions[:, 1], 2.5)
    assert not fit['gaussian_core'] and fit['n_stars'] == 60
    assert fit['beta'] == pytest.approx(2.5, abs=0.1)


def test_moffat_psf_needs_enough_stars(field):
    from astropy.utils.exceptions import AstropyUserWarning

    positions, fluxes, sources, noise = field
    few = gaussian_stars(positions[:3], fluxes[:3])
    with pytest.warns(AstropyUserWarning, match='fewer than 5: no PSF fitted'):
        catalog = detect_sources(None, KnownBackground(few, noise), threshold=2.0,
                                 psf_model='moffat').catalog
    assert len(catalog) == 3 and catalog.meta['psf_fit']['n_stars'] < 5
    assert np.all(np.isnan(catalog['psf_flux']))
    assert np.all(np.asarray(catalog['flags']) & FLAG_PSF_FIT)
    with pytest.raises(ValueError, match="or 'moffat'"):
        detect_sources(None, KnownBackground(few, noise), psf_model='gaussian')


def test_smooth_background_only_computed_when_needed(field):
    positions, fluxes, sources, noise = field

    class LazySky(KnownBackground):
        # BGRemBackground computes smooth_background on first use (seconds
        # on large images): Kron photometry on the unclipped image needs none
        smooth_background = property(lambda self: pytest.fail('smooth_background used'),
                                     lambda self, value: None)

    catalog = detect_sources(None, LazySky(sources, noise), threshold=1.0).catalog
    assert len(catalog) == len(fluxes)


def test_psf_photometry_options_are_checked(field):
    from photutils.psf import MoffatPSF

    positions, fluxes, sources, noise = field
    bkg = KnownBackground(sources, noise)
    plain = detect_sources(None, bkg, threshold=1.0).catalog
    assert not any(c.startswith('psf_') for c in plain.colnames)
    assert not plain.meta['psf_photometry']
    with pytest.raises(ValueError, match='psf_fit_shape needs a psf_model'):
        detect_sources(None, bkg, psf_fit_shape=9)
    with pytest.raises(TypeError, match='photutils PSF model'):
        detect_sources(None, bkg, psf_model=np.ones((5, 5)))
    shaped = detect_sources(None, bkg, threshold=1.0, psf_fit_shape=7,
                            psf_model=MoffatPSF(alpha=2.0, beta=3.0)).catalog
    assert np.all(np.isfinite(shaped['psf_flux'])) and len(shaped) == len(plain)
    empty = KnownBackground(np.zeros(SHAPE), np.zeros(SHAPE))
    none = detect_sources(None, empty, psf_model=MoffatPSF(alpha=2.0, beta=3.0)).catalog
    assert len(none) == 0


def test_psf_fit_flags_and_model_fwhm():
    from photutils.psf import CircularGaussianPRF, MoffatPSF

    from bgrem.detection._psf import model_fwhm, psf_fluxes

    alpha, beta = 2.5, 3.0
    assert model_fwhm(MoffatPSF(alpha=alpha, beta=beta)) == pytest.approx(
        2 * alpha * np.sqrt(2 ** (1 / beta) - 1), rel=0.05)
    assert model_fwhm(CircularGaussianPRF(fwhm=6.0)) == pytest.approx(6.0, rel=0.05)
    with pytest.raises(ValueError, match='no positive peak'):
        model_fwhm(CircularGaussianPRF(fwhm=np.nan))
    # a positive star fits well; a hole (negative "star") gets a non-positive flux, flagged
    image = moffat_stars([(50.0, 50.0)], [1e4], shape=(100, 150)) - moffat_stars(
        [(110.0, 50.0)], [1e4], shape=(100, 150))
    flux, flux_err, qfit, bad = psf_fluxes(image, [50.0, 110.0], [50.0, 50.0],
                                           MoffatPSF(alpha=2.0, beta=2.5),
                                           np.full(image.shape, 1.0))
    assert flux[0] == pytest.approx(1e4, rel=1e-3) and qfit[0] < 0.01
    assert list(bad) == [False, True]


def test_median_highpass_removes_smooth_sky_and_keeps_stars():
    from scipy.ndimage import median_filter

    shape = (101, 127)  # odd and prime sides: blocks do not divide them
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    assert np.all(median_highpass(np.full(shape, 7.0), 15) == 0)
    sky = 50 + 0.2 * xx - 0.1 * yy + 3 * np.sin(xx / 20.0)
    stars = gaussian_stars([(30.0, 40.0), (90.0, 70.0)], [2000.0, 500.0], shape=shape)
    image = sky + stars
    original = image.copy()
    highpass = median_highpass(image, 17)
    np.testing.assert_array_equal(image, original)
    assert highpass.shape == shape and highpass.dtype == np.float64
    # away from the stars (they pull the median up within a width) and half a
    # width from the edges (where a running median is biased on a gradient)
    far = (np.hypot(xx - 30, yy - 40) > 14) & (np.hypot(xx - 90, yy - 70) > 14)
    far[:9] = far[-9:] = far[:, :9] = far[:, -9:] = False
    assert np.max(np.abs(highpass - stars)[far]) < 0.15  # the sky is gone
    # the block-wise median is close to the running median of every pixel
    exact = image - median_filter(image, 17, mode='reflect')
    assert np.max(np.abs(highpass - exact)) < 0.4
    assert np.max(np.abs(highpass - exact)[far]) < 0.1
    for x, y in ((30, 40), (90, 70)):
        # the stars stand out, a few per cent lower: their pixels raise the
        # median (as much as in the running median of every pixel)
        near = np.hypot(xx - x, yy - y) < 5
        assert highpass[near].sum() == pytest.approx(stars[near].sum(), rel=0.1)
        assert highpass[near].sum() == pytest.approx(exact[near].sum(), rel=0.01)
    with pytest.raises(ValueError, match='width'):
        median_highpass(image, 2)
    with pytest.raises(ValueError, match='2-D'):
        median_highpass(image[0], 15)


@pytest.mark.parametrize('method', ['photutils', 'sep'])
def test_highpass_detection_ignores_leftover_sky_bumps(field, method):
    positions, fluxes, sources, noise = field
    # broad bumps of sky left in the output between the stars, ~3 noise sigma high
    bumps = gaussian_stars([(52.0, 50.0), (148.0, 100.0), (250.0, 150.0), (100.0, 160.0)],
                           [6e4] * 4, sigma=25.0)
    bkg = KnownBackground(sources, noise, denoised=sources + bumps)
    plain = detect_sources(None, bkg, threshold=1.0, method=method).catalog
    # the bumps are found too, or merge stars into them: fewer stars found where they are
    distance, _ = match(plain, positions)
    assert np.sum(distance < 0.3) < len(fluxes) - 3
    catalog = detect_sources(None, bkg, threshold=1.0, method=method,
                             highpass_width=17).catalog
    assert catalog.meta['highpass_width'] == 17
    assert len(catalog) == len(fluxes)
    distance, index = match(catalog, positions)
    assert np.unique(index).size == len(fluxes) and np.max(distance) < 0.3
    # fluxes still come from the unclipped image (bumps included), not the high-pass
    from photutils.aperture import CircularAperture, aperture_photometry

    apertures = CircularAperture(np.column_stack([catalog['x_centroid'], catalog['y_centroid']]),
                                 catalog.meta['aperture_radius'])
    unclipped = aperture_photometry(bkg.unclipped, apertures)['aperture_sum']
    highpass = aperture_photometry(median_highpass(bkg.cleaned, 17), apertures)['aperture_sum']
    np.testing.assert_allclose(catalog['aperture_flux'], unclipped, rtol=2e-3)
    assert np.median(np.asarray(unclipped) / np.asarray(highpass)) > 1.05
