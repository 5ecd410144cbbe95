import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from bgrem.io import read_fits_image, write_fits_image


def celestial_header(naxis=2):
    wcs = WCS(naxis=naxis)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN'] + ['FREQ'] * (naxis - 2)
    wcs.wcs.crval = [10.0, -30.0] + [1e9] * (naxis - 2)
    wcs.wcs.crpix = [5.0, 5.0] + [1.0] * (naxis - 2)
    wcs.wcs.cdelt = [-1e-4, 1e-4] + [1e6] * (naxis - 2)
    header = wcs.to_header()
    header['OBJECT'] = 'field 7'
    return header


def test_first_image_hdu_is_found(tmp_path):
    data = np.arange(20.0).reshape(4, 5)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, celestial_header(), name='SCI')]
                 ).writeto(tmp_path / 'a.fits')
    image = read_fits_image(tmp_path / 'a.fits')
    assert image.hdu_index == 1
    np.testing.assert_array_equal(image.data, data)
    assert image.header['OBJECT'] == 'field 7'
    assert image.wcs.wcs.ctype[0] == 'RA---TAN'
    assert read_fits_image(tmp_path / 'a.fits', hdu='SCI').hdu_index == 1


def test_compressed_input_and_lossless_compressed_output(tmp_path):
    data = np.random.default_rng(0).normal(size=(40, 30)).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, celestial_header(),
                                                       compression_type='GZIP_2',
                                                       quantize_level=0.0)]
                 ).writeto(tmp_path / 'a.fits.fz')
    image = read_fits_image(tmp_path / 'a.fits.fz')
    np.testing.assert_array_equal(image.data, data)
    write_fits_image(tmp_path / 'b.fits.fz', image.data, image.header,
                     [('BACKGROUND', data * 2)])
    with fits.open(tmp_path / 'b.fits.fz') as hdul:
        np.testing.assert_array_equal(hdul[1].data, data)
        np.testing.assert_array_equal(hdul['BACKGROUND'].data, data * 2)
        assert hdul[1].header['OBJECT'] == 'field 7'
        assert hdul['BACKGROUND'].header['CTYPE1'] == 'RA---TAN'


def test_cube_plane(tmp_path):
    cube = np.arange(3 * 4 * 5, dtype=float).reshape(3, 4, 5)
    fits.writeto(tmp_path / 'cube.fits', cube, celestial_header(3))
    with pytest.raises(ValueError, match='choose a plane'):
        read_fits_image(tmp_path / 'cube.fits')
    image = read_fits_image(tmp_path / 'cube.fits', plane=2)
    np.testing.assert_array_equal(image.data, cube[2])
    assert image.wcs.naxis == 2
    assert 'CTYPE3' not in image.header
    with pytest.raises(ValueError, match='out of range'):
        read_fits_image(tmp_path / 'cube.fits', plane=3)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_fits_image(tmp_path / 'missing.fits')
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column('a', 'E', array=np.zeros(3))])]).writeto(tmp_path / 'table.fits')
    with pytest.raises(ValueError, match='no image HDU'):
        read_fits_image(tmp_path / 'table.fits')
    with pytest.raises(ValueError, match='no HDU'):
        read_fits_image(tmp_path / 'table.fits', hdu=5)
    with pytest.raises(ValueError, match='holds no image'):
        read_fits_image(tmp_path / 'table.fits', hdu=1)
    fits.writeto(tmp_path / 'flat.fits', np.zeros(5))
    with pytest.raises(ValueError, match='1 dimensions'):
        read_fits_image(tmp_path / 'flat.fits', hdu=0)
    fits.writeto(tmp_path / 'img.fits', np.zeros((3, 3)))
    with pytest.raises(ValueError, match='plane does not apply'):
        read_fits_image(tmp_path / 'img.fits', plane=0)
    (tmp_path / 'text.fits').write_text('not fits at all')
    with pytest.raises(OSError):
        read_fits_image(tmp_path / 'text.fits')
