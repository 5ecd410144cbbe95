import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from bgrem.scripts.main import main


@pytest.fixture
def fits_image(tmp_path):
    data = np.random.default_rng(0).normal(100.0, 3.0, (120, 90)).astype(np.float32)
    header = fits.Header({'OBJECT': 'test field', 'CTYPE1': 'RA---TAN', 'CTYPE2': 'DEC--TAN',
                          'CRVAL1': 10.0, 'CRVAL2': 20.0, 'CRPIX1': 45.0, 'CRPIX2': 60.0,
                          'CDELT1': -1e-4, 'CDELT2': 1e-4})
    path = tmp_path / 'in.fits'
    fits.writeto(path, data, header)
    return path


def test_remove_keeps_header_and_wcs(fits_image, tmp_path, tiny_model_path, capsys):
    out = tmp_path / 'out.fits'
    status = main(['remove', str(fits_image), '-o', str(out), '--model', str(tiny_model_path),
                   '--steps', '3', '--write-background', '-q'])
    assert status == 0
    with fits.open(out) as hdul:
        assert hdul[0].header['OBJECT'] == 'test field'
        assert hdul[0].header['CRVAL1'] == 10.0
        assert hdul[0].header['BGRSTEPS'] == 3
        assert hdul[0].header['BGRMODEL'] == 'tiny'
        assert hdul[0].data.shape == (120, 90)
        assert np.all(hdul[0].data >= 0)
        assert hdul['BACKGROUND'].data.shape == (120, 90)
        assert hdul['BACKGROUND_RMS'].header['CTYPE1'] == 'RA---TAN'
    assert capsys.readouterr().out == ''


def test_remove_no_clip_and_normalization(fits_image, tmp_path, tiny_model_path):
    out = tmp_path / 'out.fits'
    assert main(['remove', str(fits_image), '-o', str(out), '--model', str(tiny_model_path),
                 '--normalization', '0.25', '--no-clip', '-q']) == 0
    assert fits.getheader(out)['BGRNORM'] == 0.25
    assert fits.getheader(out)['BGRCLIP'] is False


@pytest.mark.parametrize('setup, args, message', [
    (None, ['missing.fits'], 'no such file'),
    ('cube', ['cube.fits'], 'choose a plane'),
    ('nan', ['nan.fits'], 'no finite pixel'),
    ('table', ['table.fits'], 'no image HDU'),
    ('text', ['text.fits'], ''),
])
def test_remove_errors_are_one_line(tmp_path, tiny_model_path, capsys, setup, args, message):
    if setup == 'cube':
        fits.writeto(tmp_path / 'cube.fits', np.zeros((2, 8, 8)))
    elif setup == 'nan':
        fits.writeto(tmp_path / 'nan.fits', np.full((8, 8), np.nan))
    elif setup == 'table':
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
            [fits.Column('a', 'E', array=np.zeros(3))])]).writeto(tmp_path / 'table.fits')
    elif setup == 'text':
        (tmp_path / 'text.fits').write_text('hello')
    status = main(['remove', str(tmp_path / args[0]), '-o', str(tmp_path / 'o.fits'),
                   '--model', str(tiny_model_path), '-q'])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith('bgrem remove: error: ') and message in err
    assert err.count('\n') == 1
    assert not (tmp_path / 'o.fits').exists()


def test_existing_output_needs_overwrite(fits_image, tiny_model_path, capsys):
    assert main(['remove', str(fits_image), '-o', str(fits_image),
                 '--model', str(tiny_model_path)]) == 1
    assert '--overwrite' in capsys.readouterr().err


def test_bad_model_and_usage(fits_image, tmp_path, capsys):
    assert main(['remove', str(fits_image), '-o', str(tmp_path / 'o.fits'),
                 '--model', 'nonexistent']) == 1
    assert 'no model' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(['remove', str(fits_image), '-o', 'x.fits', '--normalization', 'big'])
    assert exc.value.code == 2


def test_help_does_not_import_tensorflow():
    code = ('import sys; from bgrem.scripts.main import main\n'
            'try:\n    main(["--help"])\nexcept SystemExit:\n    pass\n'
            'import bgrem\n'
            'assert "tensorflow" not in sys.modules and "keras" not in sys.modules\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'remove' in result.stdout


def test_quiet_run_writes_nothing_to_stderr(fits_image, tmp_path, tiny_model_path):
    # TensorFlow's native start-up lines and, with the CUDA build on a machine
    # without a GPU, its "failed call to cuInit" error must not reach the user.
    result = subprocess.run(
        [sys.executable, '-m', 'bgrem.scripts.main', 'remove', str(fits_image),
         '-o', str(tmp_path / 'out.fits'), '--model', str(tiny_model_path), '-q'],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert result.stdout == ''


def test_version(capsys):
    import bgrem

    with pytest.raises(SystemExit):
        main(['--version'])
    assert bgrem.__version__ in capsys.readouterr().out


def test_detect_writes_catalog_regions_and_segmentation(fits_image, tmp_path, tiny_model_path,
                                                        capsys):
    from astropy.table import QTable
    from regions import Regions

    catalog_path, regions_path, segmentation_path = (
        tmp_path / 'cat.ecsv', tmp_path / 'cat.reg', tmp_path / 'seg.fits')
    status = main(['detect', str(fits_image), '-o', str(catalog_path), '--regions',
                   str(regions_path), '--segmentation', str(segmentation_path), '--model',
                   str(tiny_model_path), '--steps', '1', '--threshold', '0.5', '--method', 'sep',
                   '--highpass-width', '9'])
    assert status == 0
    catalog = QTable.read(catalog_path)
    assert catalog.meta['method'] == 'sep' and catalog.meta['threshold'] == 0.5
    assert catalog.meta['highpass_width'] == 9
    assert f'{catalog_path}: {len(catalog)} sources' in capsys.readouterr().out
    with fits.open(segmentation_path) as hdul:
        labels = np.unique(hdul[0].data)
        assert hdul[0].header['BGRSTEPS'] == 1
        assert hdul[0].header['CRVAL1'] == 10.0
    assert set(labels[labels > 0]) == set(catalog['label'])
    assert len(Regions.read(regions_path, format='ds9')) == len(catalog)
    if len(catalog):
        assert 'sky_centroid' in catalog.colnames

    status = main(['detect', str(fits_image), '-o', str(catalog_path), '--model',
                   str(tiny_model_path), '-q'])
    assert status == 1
    assert 'exists' in capsys.readouterr().err


def test_detect_fits_a_psf_image(fits_image, tmp_path, tiny_model_path, capsys):
    from astropy.table import QTable
    from photutils.psf import CircularGaussianPRF

    from bgrem.scripts.detect import read_psf

    yy, xx = np.mgrid[-10:11, -10:11]
    psf_path = tmp_path / 'psf.fits'
    fits.PrimaryHDU(50.0 * CircularGaussianPRF(fwhm=3.0)(xx, yy)).writeto(psf_path)
    psf = read_psf(psf_path)
    assert psf.data.sum() == pytest.approx(1.0)  # rescaled: the fitted flux is the total
    assert read_psf(psf_path, oversampling=2).data.sum() == pytest.approx(4.0)
    catalog_path = tmp_path / 'cat.ecsv'
    status = main(['detect', str(fits_image), '-o', str(catalog_path), '--model',
                   str(tiny_model_path), '--steps', '1', '--threshold', '0.5', '--psf',
                   str(psf_path), '-q'])
    assert status == 0
    catalog = QTable.read(catalog_path)
    assert catalog.meta['psf_photometry']
    assert {'psf_flux', 'psf_flux_err', 'psf_qfit'} <= set(catalog.colnames)
    assert not catalog.meta['aperture_correction_applied']
    status = main(['detect', str(fits_image), '-o', str(tmp_path / 'corrected.ecsv'), '--model',
                   str(tiny_model_path), '--steps', '1', '--threshold', '0.5', '--psf',
                   str(psf_path), '--aperture-correction', '-q'])
    assert status == 0
    corrected = QTable.read(tmp_path / 'corrected.ecsv')
    assert corrected.meta['aperture_correction_applied']
    assert 'aperture_correction' in corrected.meta

    # --psf moffat fits one to the image's stars; this tiny image has too few
    with pytest.warns(UserWarning, match='no PSF fitted'):
        status = main(['detect', str(fits_image), '-o', str(tmp_path / 'moffat.ecsv'),
                       '--model', str(tiny_model_path), '--steps', '1', '--psf', 'moffat',
                       '-q'])
    assert status == 0
    catalog = QTable.read(tmp_path / 'moffat.ecsv')
    assert catalog.meta['psf_fit']['model'] == 'moffat'

    fits.PrimaryHDU(-np.ones((5, 5))).writeto(tmp_path / 'bad.fits')
    status = main(['detect', str(fits_image), '-o', str(tmp_path / 'bad.ecsv'), '--model',
                   str(tiny_model_path), '--psf', str(tmp_path / 'bad.fits'), '-q'])
    assert status == 1
    assert 'positive sum' in capsys.readouterr().err


def test_simulate_broad_writes_a_mixture_and_refuses_gamma(tmp_path, capsys):
    pytest.importorskip('galsim')
    import json

    import h5py

    from bgrem.training import BROAD_OPTICAL_MIXTURE

    path = tmp_path / 'broad.h5'
    assert main(['simulate', '--broad', '--fields', '4', '--field-size', '64',
                 '--tile-size', '64', '--min-peak', '0', '--workers', '2', '-q',
                 '-o', str(path)]) == 0
    with h5py.File(path, 'r') as h5:
        configs = json.loads(h5.attrs['config'])
    assert len(configs) == len(BROAD_OPTICAL_MIXTURE)
    assert configs[1]['seeing_fwhm_range'] == [1.5, 5.0]
    assert all(c['shape'] == [64, 64] for c in configs)
    assert main(['simulate', '--broad', '--gamma', '-o', str(tmp_path / 'g.h5')]) == 1
    assert '--broad' in capsys.readouterr().err


def test_remove_keeps_the_light_under_source_regions(fits_image, tmp_path, tiny_model_path,
                                                     capsys):
    from regions import CirclePixelRegion, CircleSkyRegion, PixCoord, Regions

    from bgrem.io import read_fits_image

    wcs = read_fits_image(fits_image).wcs
    circle = CirclePixelRegion(PixCoord(30.0, 40.0), 12.0)
    sky_circle = CirclePixelRegion(PixCoord(60.0, 90.0), 8.0).to_sky(wcs)
    assert isinstance(sky_circle, CircleSkyRegion)
    region_file = tmp_path / 'galaxies.reg'
    Regions([circle, sky_circle]).write(region_file, format='ds9')
    plain, kept = tmp_path / 'plain.fits', tmp_path / 'kept.fits'
    common = ['--model', str(tiny_model_path), '--steps', '1', '--no-clip', '-q']
    assert main(['remove', str(fits_image), '-o', str(plain)] + common) == 0
    assert main(['remove', str(fits_image), '-o', str(kept), '--source-regions',
                 str(region_file)] + common) == 0
    # the regions as written to the file (DS9 rounds the numbers)
    inside = np.zeros((120, 90), bool)
    for region in Regions.read(region_file, format='ds9'):
        if isinstance(region, CircleSkyRegion):
            region = region.to_pixel(wcs)
        inside |= region.to_mask(mode='center').to_image((120, 90), dtype=bool)
    assert inside[40, 30] and inside[90, 60] and inside.sum() > 600
    before, after = fits.getdata(plain), fits.getdata(kept)
    np.testing.assert_array_equal(after[~inside], before[~inside])
    assert not np.allclose(after[inside], before[inside])
    assert fits.getheader(kept)['BGRSMASK'] == inside.sum()
    assert fits.getheader(plain)['BGRSMASK'] == 0

    (tmp_path / 'empty.reg').write_text('# Region file format: DS9\n')
    (tmp_path / 'table.csv').write_text('a,b\n1,2\n')
    for name, message in (('empty.reg', 'no region'), ('table.csv', 'not a region file'),
                          ('missing.reg', 'no such file')):
        assert main(['remove', str(fits_image), '-o', str(tmp_path / 'x.fits'),
                     '--source-regions', str(tmp_path / name)] + common) == 1
        error = capsys.readouterr().err
        assert message in error.lower() and len(error.strip().splitlines()) == 1, error


def test_detect_takes_source_regions(fits_image, tmp_path, tiny_model_path):
    from regions import CirclePixelRegion, PixCoord, Regions

    region_file = tmp_path / 'galaxy.reg'
    Regions([CirclePixelRegion(PixCoord(45.0, 60.0), 15.0)]).write(region_file, format='ds9')
    segmentation = tmp_path / 'seg.fits'
    assert main(['detect', str(fits_image), '-o', str(tmp_path / 'cat.ecsv'), '--model',
                 str(tiny_model_path), '--steps', '1', '--segmentation', str(segmentation),
                 '--source-regions', str(region_file), '-q']) == 0
    assert 650 < fits.getheader(segmentation)['BGRSMASK'] < 760  # pi 15^2 = 707
