"""
`BGRemBackground`: diffusion-model background removal with the interface of
`photutils.background.Background2D`.
"""

import functools

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from scipy.ndimage import binary_dilation

from ..model.diffusion import _check_steps
from ..model.inference import clean_image
from ..model.normalization import (estimate_normalization, fit_sky_plane, masked_median,
                                   poisson_normalization)
from ..model.registry import DEFAULT_MODEL, load_model
from ._input import read_input
from ._kept import smooth_within, sky_under
from ._sky import smooth_sky

__all__ = ['BGRemBackground']

_RMS_BOX_SIZE = 64
# Level of the unclipped output (in noise sigma) above which a pixel is left
# out of the smooth sky, with this many pixels around it (faint wings).
_SOURCE_LEVEL = 0.5
_SOURCE_GROWTH = 3
_FILL_SEED = 0


class BGRemBackground:
    """
    Remove the background (sky level and noise) from an image with a
    diffusion model.

    The interface follows `photutils.background.Background2D`:
    ``data - bkg.background`` is the cleaned, source-only image
    (`cleaned`), and `background_rms` is a 2-D noise map.  All the work is
    done when the object is created; the results do not change afterwards.

    The image is median-subtracted, scaled so that its noise has unit
    standard deviation (``normalization``), cut into overlapping tiles, run
    through ``diffusion_steps`` steps of the BGRem reverse diffusion, stitched
    and scaled back to the units of ``data``.

    Parameters
    ----------
    data : array_like, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
        The 2-D image (an NDData may be a `~astropy.nddata.CCDData`).  Its
        unit, mask, WCS and meta are kept.  The input is never modified.
    model : str, path-like or `~bgrem.model.registry.BGRemModel`, optional
        A shipped model name (see `~bgrem.model.registry.available_models`),
        the path of a model, or a loaded model.
    diffusion_steps : int, optional
        Network evaluations per tile; by default the model's own choice.
        More steps cost proportionally more time.
    normalization : 'auto' or float, optional
        Factor that scales the median-subtracted data (in units of ``1 /
        data.unit``) so its noise has unit standard deviation.  ``'auto'``
        estimates it with `~bgrem.model.normalization.estimate_normalization`
        from the unmasked pixels, or, for a model made for count maps
        (``'poisson'`` normalisation in its card), per pixel with
        `~bgrem.model.normalization.poisson_normalization`.  The estimate is
        biased when most pixels hold sources; then give the factor (one over
        the noise standard deviation).
    median : {'global', 'tile', 'plane'}, optional
        Subtract one median of the whole image, the median of each tile, or
        a plane fitted to the sky (`~bgrem.model.normalization.fit_sky_plane`:
        the global level and a linear gradient, robust to sources) before the
        network; by default what the model's card says.  The plane helps
        under sky gradients, which the network otherwise mistakes in part for
        extended emission.
    mask : array_like of bool, optional
        `True` marks pixels left out of the statistics (median, normalisation,
        `background_rms`), e.g. bad pixels or saturated stars.  Unlike
        `~photutils.background.Background2D`, the network still sees these
        pixels (if finite) and they are cleaned like the others.  A mask of an
        `~astropy.nddata.NDData` input or a `~numpy.ma.MaskedArray` is added.
    coverage_mask : array_like of bool, optional
        `True` marks pixels outside the survey coverage.  They are left out
        of everything and set to ``fill_value`` in every output.
    source_mask : array_like of bool or regions, optional
        `True` marks pixels of sources whose light must all be kept, such
        as the outlines of large galaxies known from a catalogue or a
        deeper image.  `regions.Regions` (e.g. read from a DS9 file with
        `regions.Regions.read`) are accepted too; sky regions are placed
        with the WCS of an `~astropy.nddata.NDData` input.  The network
        takes faint extended light of the size of the sky's own structure
        in part for sky; under these pixels the sky is instead interpolated
        from the smooth sky around them (biharmonic), and what the network
        removed above it, smoothed by a Gaussian of 4 pixels within the mask
        (its noise stays in `background`), goes back to `cleaned` and
        `unclipped`.  Outside the mask `cleaned` and `unclipped` do not
        change.  See :ref:`known-outlines` for what this gains.
    fill_value : float, optional
        Value of the outputs under ``coverage_mask``.
    clip_negative : bool, optional
        Set negative pixels of `cleaned` to zero (the paper's
        post-processing).  `unclipped` keeps them; use it for photometry.
    tile_size, keep_size : int, optional
        Side of the tiles given to the network and of their kept centres;
        by default the model's.  ``tile_size`` must be a multiple of 16.
    batch_size : int, optional
        Tiles per network call; larger batches are faster up to a point and
        take ``~4 MB`` of memory per 256x256 tile and step.
    progress_bar : bool, optional
        Show a progress bar over the tiles.

    Attributes
    ----------
    model : `~bgrem.model.registry.BGRemModel`
        The model used.
    diffusion_steps : int
        Steps used.
    normalization : float
        Normalisation factor used (given or estimated); for a model with
        ``'poisson'`` normalisation (count maps), the median of
        ``normalization_map``.
    normalization_map : `~numpy.ndarray` or None
        The per-pixel factor of a ``'poisson'`` model (one over the square
        root of the smoothed counts, see
        `~bgrem.model.normalization.poisson_normalization`); None otherwise.
    median : float
        Global median of the unmasked data, in data units (without the
        unit); subtracted before the network unless ``median`` is
        ``'plane'``.
    median_mode : str
        ``'global'``, ``'tile'`` or ``'plane'``.
    sky_plane : `~numpy.ndarray` or None
        The plane subtracted before the network with ``median='plane'``
        (float32, data units); None otherwise.
    mask, coverage_mask, source_mask : `~numpy.ndarray` or None
        The masks used (``mask`` includes NDData and MaskedArray masks;
        ``source_mask`` is a boolean image also when regions were given).
    unit : `~astropy.units.Unit` or None
        The unit of the input, applied to every output image.
    wcs, meta : object, dict
        The WCS and meta of an `~astropy.nddata.NDData` input (None and
        ``{}`` otherwise).
    fill_value : float
        The fill value.

    Raises
    ------
    ValueError
        For an image that is not 2-D, has no usable pixel, or masks of the
        wrong shape, and for invalid parameters.
    TypeError
        For non-numeric data.
    FileNotFoundError
        If the model does not exist.

    Notes
    -----
    Non-finite pixels (NaN, inf) are masked automatically (with a warning
    when no given mask covers them), replaced by unit Gaussian noise before
    the network sees them, and are NaN in `cleaned`, `unclipped` and
    `background`.

    Examples
    --------
    >>> import numpy as np
    >>> from bgrem import BGRemBackground
    >>> from bgrem.model.network import build_network
    >>> from bgrem.model.registry import BGRemModel
    >>> from bgrem.model.card import ModelCard
    >>> model = BGRemModel(build_network(), ModelCard('random', 'none'))  # untrained
    >>> data = np.random.default_rng(1).normal(10.0, 2.0, (100, 120))
    >>> bkg = BGRemBackground(data, model, diffusion_steps=1)
    >>> bkg.cleaned.shape
    (100, 120)
    >>> bool(np.allclose(data - bkg.background, bkg.cleaned, atol=1e-4))
    True
    """

    def __init__(self, data, model=DEFAULT_MODEL, *, diffusion_steps=None,
                 normalization='auto', median=None, mask=None, coverage_mask=None,
                 source_mask=None, fill_value=0.0, clip_negative=True, tile_size=None,
                 keep_size=None, batch_size=4, progress_bar=False):
        image = read_input(data, mask, coverage_mask, source_mask)
        self.model = load_model(model)
        card = self.model.card
        self.diffusion_steps = (card.default_steps if diffusion_steps is None
                                else _check_steps(diffusion_steps))
        median_mode = card.normalization.get('median', 'global') if median is None else median
        if median_mode not in ('global', 'tile', 'plane'):
            raise ValueError(f"median must be 'global', 'tile' or 'plane', got {median!r}")
        self.median_mode = median_mode
        tile_size = card.tile_size if tile_size is None else int(tile_size)
        keep_size = card.keep_size if keep_size is None else int(keep_size)
        if tile_size % 16:
            raise ValueError(f'tile_size must be a multiple of 16, got {tile_size}')

        self.mask = image.mask
        self.coverage_mask = image.coverage_mask
        self.source_mask = image.source_mask
        self.fill_value = float(fill_value)
        self.clip_negative = bool(clip_negative)
        self.unit = image.unit
        self.wcs = image.wcs
        self.meta = image.meta
        self._nonfinite = image.nonfinite
        self._stats_mask = image.invalid | image.mask

        self.median = masked_median(image.data, self._stats_mask)
        self.sky_plane = None
        if median_mode == 'plane':
            self.sky_plane = fit_sky_plane(image.data, self._stats_mask)
            work = image.data - self.sky_plane
        else:
            work = image.data - np.float32(self.median)
        self.normalization_map = None
        if (card.normalization.get('method') == 'poisson'
                and isinstance(normalization, str) and normalization == 'auto'):
            self.normalization_map = poisson_normalization(
                image.data, self._stats_mask,
                smoothing=card.normalization.get('smoothing', 1.5),
                floor=card.normalization.get('floor', 1.0))
            self.normalization = float(np.median(self.normalization_map[~self._stats_mask]))
            scale = self.normalization_map
        else:
            self.normalization = self._normalization(normalization, work, self._stats_mask,
                                                     card.normalization)
            scale = np.float32(self.normalization)
        work *= scale
        invalid = image.invalid
        work[invalid] = np.random.default_rng(_FILL_SEED).standard_normal(
            np.count_nonzero(invalid)).astype(np.float32)

        unclipped = clean_image(work, self.model.predict, self.diffusion_steps,
                                max_signal_rate=card.max_signal_rate, tile_size=tile_size,
                                keep_size=keep_size, batch_size=batch_size,
                                tile_median=median_mode == 'tile', progress_bar=progress_bar)
        del work
        unclipped /= scale
        self._set_outputs(image.data, unclipped)
        if self.source_mask is not None and self.source_mask.any():
            self._keep_source_light(image.data)

    def _set_outputs(self, data, unclipped):
        """Set the output images from the data and the unclipped image."""
        cleaned = np.maximum(unclipped, 0) if self.clip_negative else unclipped
        background = data - cleaned
        for array in (unclipped, cleaned, background):
            array[self._nonfinite] = np.nan
            array[self._coverage()] = self.fill_value
        self._unclipped, self._cleaned, self._background = unclipped, cleaned, background

    def _keep_source_light(self, data):
        """
        Give back to the sources under ``source_mask`` what the network
        removed above the sky interpolated from around them.
        """
        holes = self.source_mask & ~self._coverage()
        sky = sky_under(self._sky_leaving_out(holes), holes, unusable=self.coverage_mask)
        sky[self._coverage()] = self.fill_value
        inside = holes & ~self._nonfinite
        light = smooth_within(self._removed - sky, inside).astype(np.float32)
        self._set_outputs(data, self._unclipped + light)
        # The sky under the holes is the interpolated one; the noise map is
        # remade from the new removed component.
        self._smooth_sky = sky
        self.__dict__.pop('_rms_background2d', None)

    def __repr__(self):
        return (f'<BGRemBackground shape={self._cleaned.shape} model={self.model.name!r} '
                f'diffusion_steps={self.diffusion_steps} normalization={self.normalization:.4g}>')

    @staticmethod
    def _normalization(normalization, work, mask, settings):
        if isinstance(normalization, str):
            if normalization != 'auto':
                raise ValueError(f"normalization must be 'auto' or a positive number, "
                                 f'got {normalization!r}')
            return estimate_normalization(
                work, mask,
                exclude_brightest=settings.get('exclude_brightest', 0.1),
                gaussian_correction=settings.get('gaussian_correction', True))
        factor = float(normalization)
        if not (np.isfinite(factor) and factor > 0):
            raise ValueError('normalization must be a positive finite number, '
                             f'got {normalization!r}')
        return factor

    def _apply_unit(self, array):
        return array if self.unit is None else array << self.unit

    @property
    def cleaned(self):
        """
        The source-only image: ``data - background``, clipped at zero when
        ``clip_negative`` (the default).
        """
        return self._apply_unit(self._cleaned)

    @property
    def unclipped(self):
        """The source-only image before clipping; use it for photometry."""
        return self._apply_unit(self._unclipped)

    @property
    def background(self):
        """
        The removed component, sky level and noise: ``data - cleaned``.
        """
        return self._apply_unit(self._background)

    @property
    def _removed(self):
        """The removed component before clipping: data - unclipped."""
        return self._background + self._cleaned - self._unclipped

    @functools.cached_property
    def _rms_background2d(self):
        from photutils.background import Background2D

        removed = self._removed
        shape = removed.shape
        box = (min(_RMS_BOX_SIZE, shape[0]), min(_RMS_BOX_SIZE, shape[1]))
        filter_size = tuple(3 if n >= 3 * b else 1 for n, b in zip(shape, box))
        return Background2D(removed, box, mask=self._stats_mask & ~self._coverage(),
                            coverage_mask=self.coverage_mask, fill_value=self.fill_value,
                            filter_size=filter_size)

    def _coverage(self):
        if self.coverage_mask is None:
            return np.zeros(self._nonfinite.shape, bool)
        return self.coverage_mask

    @property
    def background_rms(self):
        """
        2-D map of the noise in the removed component.

        The sigma-clipped standard deviation of `background` in boxes of 64
        pixels, median-filtered and interpolated by
        `~photutils.background.Background2D`.
        """
        return self._apply_unit(self._rms_background2d.background_rms.astype(np.float32))

    @property
    def smooth_background(self):
        """
        The smooth sky level: `background` without its noise.

        A local quadratic fit to the removed component, weighted by a
        Gaussian of 8 pixels, leaving out the pixels where `unclipped`
        exceeds half the noise (and 3 pixels around them: what the network
        leaves of source light in the removed component lies there), then
        again without the pixels more than 4 `background_rms` off the first
        pass.  That pass is also made with a window of 16 pixels, taken
        where most of the 8-pixel window is left out and the sky shows no
        structure on that scale (the large holes of bright stars in poor
        seeing).  Left-out and masked pixels get the value of the fit
        around them, those of ``coverage_mask`` get ``fill_value``.  It is not
        biased by sources the way a `~photutils.background.Background2D` of
        the data is, and it follows sky structure of a few tens of pixels,
        also under stars.  Under ``source_mask`` it is the sky interpolated
        from around the mask.
        ``data - smooth_background`` keeps the noise of the data and the
        full flux of every source; PSF fits are made on it (see
        `~bgrem.detect_sources`).
        """
        return self._apply_unit(self._smooth_sky.astype(np.float32))

    @functools.cached_property
    def _smooth_sky(self):
        return self._sky_leaving_out()

    def _sky_leaving_out(self, left_out=None, **fit_options):
        """
        The smooth sky, with the pixels of ``left_out`` (bool image) also
        left out of the fit: they get the value of the fit around them, or,
        far from any usable pixel, that of the 64-pixel Background2D of the
        removed component.  ``fit_options`` go to
        `~bgrem.background._sky.smooth_sky`.
        """
        coarse = self._rms_background2d
        # Pixels where the cleaned image holds source light are left out: the
        # network may put a little of it into the removed component.
        sources = binary_dilation(self._unclipped > _SOURCE_LEVEL * coarse.background_rms,
                                  iterations=_SOURCE_GROWTH)
        if left_out is not None:
            sources |= left_out
        sky = smooth_sky(self._removed, coarse.background_rms,
                         ~(self._stats_mask | self._coverage() | sources), **fit_options)
        gaps = ~np.isfinite(sky)  # far from any usable pixel
        sky[gaps] = coarse.background[gaps]
        sky[self._coverage()] = self.fill_value
        return sky

    @property
    def background_median(self):
        """Median of `background` over the usable pixels."""
        return self._apply_unit(np.float32(np.median(self._background[~self._stats_mask])))

    @property
    def background_rms_median(self):
        """Median of `background_rms` over the usable pixels."""
        rms = self._rms_background2d.background_rms
        return self._apply_unit(np.float32(np.median(rms[~self._stats_mask])))

    def provenance(self):
        """
        FITS keywords that record how the image was cleaned.

        Returns
        -------
        cards : dict
            ``{keyword: (value, comment)}``.
        """
        from .. import __version__

        return {
            'BGRMODEL': (self.model.name, 'bgrem model'),
            'BGRSTEPS': (self.diffusion_steps, 'bgrem diffusion steps'),
            'BGRNORM': (self.normalization, 'bgrem normalisation factor (1/data unit)'),
            'BGRMED': (self.median, 'bgrem global median of the data (data unit)'),
            'BGRMEDMO': (self.median_mode, 'bgrem level subtracted: global, tile, plane'),
            'BGRCLIP': (self.clip_negative, 'bgrem clipped negative pixels of CLEANED'),
            'BGRSMASK': (0 if self.source_mask is None else int(np.count_nonzero(self.source_mask)),
                         'bgrem pixels whose light was all kept'),
            'BGRVERS': (__version__, 'bgrem version'),
        }

    def to_ccddata(self, kind='cleaned'):
        """
        One of the outputs as a `~astropy.nddata.CCDData` with the WCS, unit
        and meta of the input and the `provenance` keywords in its header.

        Parameters
        ----------
        kind : {'cleaned', 'unclipped', 'background', 'background_rms'}
            Which image.  ``'cleaned'`` and ``'unclipped'`` carry
            `background_rms` as their uncertainty.

        Returns
        -------
        ccd : `~astropy.nddata.CCDData`
            Its ``mask`` marks non-finite and uncovered pixels.  Without an
            input unit the unit is dimensionless.
        """
        kinds = ('cleaned', 'unclipped', 'background', 'background_rms')
        if kind not in kinds:
            raise ValueError(f'kind must be one of {kinds}, got {kind!r}')
        wcs, meta = self.wcs, self.meta
        header = fits.Header()
        for key, value in meta.items():
            try:
                header[key] = value
            except (ValueError, TypeError):  # not representable in FITS: leave out
                continue
        header.update(self.provenance())
        header['BGRKIND'] = (kind, 'bgrem output')
        value = np.asarray(getattr(self, kind)).copy()
        uncertainty = None
        if kind in ('cleaned', 'unclipped'):
            uncertainty = StdDevUncertainty(np.asarray(self.background_rms))
        return CCDData(value, unit=self.unit if self.unit is not None else '',
                       wcs=wcs, meta=header, mask=self._nonfinite | self._coverage(),
                       uncertainty=uncertainty)
