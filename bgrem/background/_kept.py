"""
Keeping all the light of sources whose outline the caller knows.

The network takes faint extended light of the size of the sky's own
structure in part for sky (a large galaxy fainter than the sky bumps
around it looks like one more bump).  Nothing in one image tells the two
apart, but a catalogue or a deeper image may give the outline of such a
source (``source_mask`` of `~bgrem.BGRemBackground`).  Under it the sky is
then interpolated from the smooth sky around (`sky_under`), and what the
network removed above that sky, smoothed within the outline to leave its
noise behind (`smooth_within`), goes back to the source.
"""

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter

__all__ = []

#: Gaussian sigma (pixels) of the smoothing of the light given back under
#: the source mask: the noise of the removed component drops to 7% of its
#: rms, while the light given back, which the network removed because it
#: is extended, keeps its shape.
KEPT_LIGHT_SIGMA = 4.0


def sky_under(sky, holes, unusable=None):
    """
    ``sky`` with the pixels of ``holes`` replaced by the biharmonic
    interpolation of the pixels around them.

    Parameters
    ----------
    sky : `~numpy.ndarray`
        A smooth sky map, finite outside ``holes`` and ``unusable``.
    holes : `~numpy.ndarray` of bool
        The pixels to interpolate.
    unusable : `~numpy.ndarray` of bool, optional
        Pixels whose value must not be used (outside the coverage): they
        take the value of the nearest other pixel that is not in
        ``holes`` either.

    Returns
    -------
    sky : `~numpy.ndarray`
        float64, a new array.
    """
    from skimage.restoration import inpaint_biharmonic

    sky = np.array(sky, float)
    if not holes.any():
        return sky
    if unusable is not None and unusable.any():
        nearest = distance_transform_edt(unusable | holes, return_distances=False,
                                         return_indices=True)
        sky[unusable] = sky[tuple(nearest)][unusable]
    return inpaint_biharmonic(np.where(holes, 0.0, sky), holes, split_into_regions=True)


def smooth_within(values, inside, sigma=KEPT_LIGHT_SIGMA):
    """
    Gaussian average of ``values`` over the pixels ``inside`` only, at
    those pixels (zero elsewhere): light inside stays inside.

    Parameters
    ----------
    values : `~numpy.ndarray`
        The image; only its pixels ``inside`` are used.
    inside : `~numpy.ndarray` of bool
        The pixels averaged over and returned.
    sigma : float, optional
        Standard deviation of the Gaussian, pixels.

    Returns
    -------
    smoothed : `~numpy.ndarray`
        float64, zero outside ``inside``.
    """
    weight = inside.astype(float)
    total = gaussian_filter(np.where(inside, values, 0.0), sigma, mode='constant')
    norm = gaussian_filter(weight, sigma, mode='constant')
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(inside, total / norm, 0.0)
