"""Writing a detection catalogue: ECSV/FITS tables and DS9 region files."""

import pathlib
import warnings

import numpy as np
from astropy.io.fits.verify import VerifyWarning

__all__ = ['write_catalog', 'write_regions']


def write_catalog(catalog, path, overwrite=False):
    """
    Write a catalogue from `~bgrem.detect_sources` to a file.

    Parameters
    ----------
    catalog : `~astropy.table.QTable`
        The catalogue.
    path : path-like
        Output file; the format follows the extension: ``.ecsv`` (keeps
        units, ``sky_centroid`` and the settings in ``meta``) or ``.fits``.
    overwrite : bool, optional
        Replace an existing file.

    Raises
    ------
    ValueError
        For another extension.
    """
    path = pathlib.Path(path)
    suffixes = ''.join(path.suffixes[-2:]).lower()
    if path.suffix.lower() == '.ecsv':
        catalog.write(path, format='ascii.ecsv', overwrite=overwrite)
    elif path.suffix.lower() in ('.fits', '.fit') or suffixes == '.fits.gz':
        table = catalog.copy(copy_data=False)
        table.meta = {k: v for k, v in catalog.meta.items() if not isinstance(v, dict)}
        table.meta.update(catalog.meta.get('bgrem', {}))
        with warnings.catch_warnings():  # long settings names become HIERARCH cards
            warnings.simplefilter('ignore', VerifyWarning)
            table.write(path, format='fits', overwrite=overwrite)
    else:
        raise ValueError(f'{path}: catalogue format unknown; use .ecsv or .fits')


def write_regions(catalog, path, radius=None, overwrite=False):
    """
    Write DS9 circle regions for the sources of a catalogue.

    Parameters
    ----------
    catalog : `~astropy.table.QTable`
        A catalogue from `~bgrem.detect_sources`.
    path : path-like
        The region file.
    radius : float, optional
        Circle radius in pixels; by default the catalogue's aperture radius.
    overwrite : bool, optional
        Replace an existing file.

    Notes
    -----
    The regions are in pixel coordinates (``image`` frame of DS9, which is
    1-based: `regions` converts), so they load on the image whether or not
    it has a WCS.
    """
    from regions import CirclePixelRegion, PixCoord, Regions

    if radius is None:
        radius = catalog.meta.get('aperture_radius', 3.0)
    regions = [
        CirclePixelRegion(PixCoord(float(x), float(y)), float(radius),
                          meta={'text': str(label)})
        for x, y, label in zip(np.asarray(catalog['x_centroid']),
                               np.asarray(catalog['y_centroid']), catalog['label'])]
    Regions(regions).write(str(path), format='ds9', overwrite=overwrite)
