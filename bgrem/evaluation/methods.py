"""
The background subtractions that bgrem is compared with, behind one face.

Each method turns an image into a `SubtractedImage`: the image to detect
on, the image to measure on, a noise map and the smooth background, with
the attributes `bgrem.detect_sources` reads from a
`~bgrem.BGRemBackground`, so every method is followed by exactly the same
detector and photometry.
"""

import pathlib
import shutil
import subprocess
import tempfile
import time

import numpy as np

__all__ = ['BASELINE_METHODS', 'HAS_SEXTRACTOR', 'SubtractedImage', 'median_filter_subtraction',
           'subtract_background']

#: The command of SExtractor (Debian package ``source-extractor``), or None.
SEXTRACTOR = shutil.which('source-extractor') or shutil.which('sex')
HAS_SEXTRACTOR = SEXTRACTOR is not None

#: Background estimators of other tools, by name.
BASELINE_METHODS = ('background2d', 'sep', 'sextractor')

#: Mesh (box) size in pixels of every baseline: the photutils and SExtractor
#: default scale for ground-based images, and what validation used.
BOX_SIZE = 64
FILTER_SIZE = 3


class SubtractedImage:
    """
    A background-subtracted image with the attributes of a
    `~bgrem.BGRemBackground` that `bgrem.detect_sources` uses.

    Parameters
    ----------
    name : str
        Method name.
    detection : `~numpy.ndarray`
        Image to detect sources on (``cleaned``).
    measurement : `~numpy.ndarray`
        Image to measure fluxes on (``unclipped``).
    smooth_background, background_rms : `~numpy.ndarray`
        The smooth background that was subtracted and the noise map.
    seconds : float
        Wall time of the subtraction.
    background : `~numpy.ndarray`, optional
        The removed component, data minus ``detection``; by default
        ``smooth_background + measurement - detection`` (the measurement
        image is then the data minus the smooth background, where PSF fits
        are made).
    """

    mask = None
    coverage_mask = None
    wcs = None
    unit = None

    def __init__(self, name, detection, measurement, smooth_background, background_rms,
                 seconds=0.0, background=None):
        self.name = name
        self.cleaned = np.asarray(detection, float)
        self.unclipped = np.asarray(measurement, float)
        self.smooth_background = np.asarray(smooth_background, float)
        self.background_rms = np.asarray(background_rms, float)
        self.background = (self.smooth_background + self.unclipped - self.cleaned
                           if background is None else np.asarray(background, float))
        self.mask = np.zeros(self.cleaned.shape, bool)
        self.seconds = float(seconds)

    def __repr__(self):
        return f'<SubtractedImage {self.name} shape={self.cleaned.shape}>'

    def provenance(self):
        """The method, in the form of `~bgrem.BGRemBackground.provenance`."""
        return {'METHOD': (self.name, 'background subtraction')}

    @classmethod
    def from_bgrem(cls, bkg, clipped=True, seconds=0.0):
        """
        The outputs of a `~bgrem.BGRemBackground`; with ``clipped`` the
        fluxes are measured on the clipped image (to show its bias).
        """
        def plain(value):
            return np.asarray(getattr(value, 'value', value), float)

        cleaned = plain(bkg.cleaned)
        return cls('bgrem_clipped' if clipped else 'bgrem', cleaned,
                   cleaned if clipped else plain(bkg.unclipped),
                   plain(bkg.smooth_background), plain(bkg.background_rms), seconds,
                   background=plain(bkg.background))

    def smoothed(self, sigma):
        """
        The detection image smoothed by a Gaussian of ``sigma`` pixels (the
        control that shows what plain smoothing gains), with the noise map
        scaled for white noise.
        """
        from scipy.ndimage import gaussian_filter

        return SubtractedImage(f'{self.name}_smoothed', gaussian_filter(self.cleaned, sigma),
                               self.unclipped, self.smooth_background,
                               self.background_rms / (2 * np.sqrt(np.pi) * sigma), self.seconds)


def subtract_background(data, method, box_size=BOX_SIZE, filter_size=FILTER_SIZE):
    """
    Subtract the background of ``data`` with another tool.

    Parameters
    ----------
    data : array_like
        The image.
    method : {'background2d', 'sep', 'sextractor'}
        `photutils.background.Background2D` (sigma-clipped median in boxes,
        median filter), `sep.Background` (SExtractor's estimator, in
        Python), or the SExtractor program's own background map.
    box_size, filter_size : int, optional
        Mesh size and median filter size of the background map.

    Returns
    -------
    subtracted : `SubtractedImage`

    Raises
    ------
    ValueError
        For an unknown method.
    RuntimeError
        If SExtractor is asked for and not installed, or fails.
    """
    if method not in BASELINE_METHODS:
        raise ValueError(f'method must be one of {BASELINE_METHODS}, got {method!r}')
    data = np.ascontiguousarray(data, dtype=float)
    start = time.perf_counter()
    if method == 'background2d':
        from photutils.background import Background2D

        bkg = Background2D(data, box_size, filter_size=filter_size)
        background, rms = bkg.background, bkg.background_rms
    elif method == 'sep':
        import sep

        bkg = sep.Background(data, bw=box_size, bh=box_size, fw=filter_size, fh=filter_size)
        background, rms = bkg.back(), bkg.rms()
    else:
        background, rms = _sextractor_background(data, box_size, filter_size)
    seconds = time.perf_counter() - start
    subtracted = data - background
    return SubtractedImage(method, subtracted, subtracted, background, rms, seconds)


def median_filter_subtraction(data, size):
    """
    Subtract a running median of ``size`` x ``size`` pixels: a control, not
    a background estimator to use.

    A running median a few seeing FWHM wide follows any sky structure, so
    detection after it gains much under structured sky; it also follows the
    wings of stars and the light of galaxies larger than it, and subtracts
    them.  Fluxes are measured on the same subtracted image, since its
    background is all this method knows.

    Parameters
    ----------
    data : array_like
        The image.
    size : int
        Width of the running median in pixels.

    Returns
    -------
    subtracted : `SubtractedImage`
        Named ``'median_filter'``; its noise map is `sep.Background`'s RMS
        of the subtracted image.

    Raises
    ------
    ValueError
        If ``size`` is below 1.
    """
    import sep
    from scipy.ndimage import median_filter

    size = int(size)
    if size < 1:
        raise ValueError(f'size must be at least 1, got {size}')
    data = np.ascontiguousarray(data, dtype=float)
    start = time.perf_counter()
    background = median_filter(data, size=size, mode='reflect')
    subtracted = data - background
    rms = sep.Background(subtracted, bw=BOX_SIZE, bh=BOX_SIZE, fw=FILTER_SIZE,
                         fh=FILTER_SIZE).rms()
    seconds = time.perf_counter() - start
    return SubtractedImage('median_filter', subtracted, subtracted, background, rms, seconds)


def _sextractor_background(data, box_size, filter_size):
    from astropy.io import fits

    if not HAS_SEXTRACTOR:
        raise RuntimeError('SExtractor is not installed (Debian: apt-get install '
                           'source-extractor)')
    with tempfile.TemporaryDirectory(prefix='bgrem-sex-') as folder:
        folder = pathlib.Path(folder)
        fits.writeto(folder / 'in.fits', data.astype(np.float32))
        (folder / 'empty.sex').write_text('')
        (folder / 'p.param').write_text('NUMBER\n')
        command = [SEXTRACTOR, 'in.fits', '-c', 'empty.sex', '-PARAMETERS_NAME', 'p.param',
                   '-FILTER', 'N', '-CATALOG_TYPE', 'NONE', '-BACK_SIZE', str(box_size),
                   '-BACK_FILTERSIZE', str(filter_size), '-CHECKIMAGE_TYPE',
                   'BACKGROUND,BACKGROUND_RMS', '-CHECKIMAGE_NAME', 'bkg.fits,rms.fits',
                   '-VERBOSE_TYPE', 'QUIET']
        run = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f'SExtractor failed: {run.stderr.strip()[-500:]}')
        background = fits.getdata(folder / 'bkg.fits').astype(float)
        rms = fits.getdata(folder / 'rms.fits').astype(float)
    return background, rms
