"""
Detection scores: match detections to true sources and sweep the threshold.
"""

import warnings

import numpy as np
from astropy.table import QTable

__all__ = ['count_matches', 'detect_positions', 'detection_curve', 'match_to_truth',
           'true_positives_at']


def match_to_truth(x, y, truth_x, truth_y, radius=2.0):
    """
    Pair detections with true sources within ``radius``, each true source
    used at most once (optimal one-to-one assignment by distance).

    Parameters
    ----------
    x, y : array_like
        Detected positions (pixels).
    truth_x, truth_y : array_like
        True positions (pixels).
    radius : float, optional
        Match radius in pixels.

    Returns
    -------
    detection_index, truth_index : `~numpy.ndarray` of int
        Indices of the matched pairs.

    Examples
    --------
    >>> from bgrem.evaluation import match_to_truth
    >>> match_to_truth([10.2, 50.0, 10.5], [10.0, 50.0, 9.8], [10.0, 30.0], [10.0, 30.0])
    (array([0]), array([0]))
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial import cKDTree

    x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
    truth_x = np.atleast_1d(np.asarray(truth_x, float))
    truth_y = np.atleast_1d(np.asarray(truth_y, float))
    none = (np.zeros(0, int), np.zeros(0, int))
    if x.size == 0 or truth_x.size == 0:
        return none
    pairs = cKDTree(np.column_stack([truth_x, truth_y])).query_ball_point(
        np.column_stack([x, y]), r=radius)
    rows = np.array([i for i, p in enumerate(pairs) for _ in p], int)
    cols = np.array([j for p in pairs for j in p], int)
    if rows.size == 0:
        return none
    # Only detections and truths that have a candidate pair enter the assignment.
    det_ids, det_index = np.unique(rows, return_inverse=True)
    tru_ids, tru_index = np.unique(cols, return_inverse=True)
    cost = np.full((det_ids.size, tru_ids.size), 1e6)
    cost[det_index, tru_index] = np.hypot(x[rows] - truth_x[cols], y[rows] - truth_y[cols])
    det, tru = linear_sum_assignment(cost)
    good = cost[det, tru] <= radius
    order = np.argsort(det_ids[det[good]])
    return det_ids[det[good]][order], tru_ids[tru[good]][order]


def count_matches(x, y, truth_x, truth_y, radius=2.0):
    """
    Count detections within ``radius`` of a true source, each true source
    matched at most once (see `match_to_truth`).

    Parameters
    ----------
    x, y : array_like
        Detected positions (pixels).
    truth_x, truth_y : array_like
        True positions (pixels).
    radius : float, optional
        Match radius in pixels.

    Returns
    -------
    true_positives, false_positives : int

    Examples
    --------
    >>> from bgrem.evaluation import count_matches
    >>> count_matches([10.2, 50.0, 10.5], [10.0, 50.0, 9.8], [10.0, 30.0], [10.0, 30.0])
    (1, 2)
    """
    matched = match_to_truth(x, y, truth_x, truth_y, radius)[0].size
    return matched, int(np.size(x)) - matched


def detect_positions(image, threshold, n_pixels=5, mask=None):
    """
    Detect sources with `photutils.segmentation.detect_sources` and return
    their centroids.

    Parameters
    ----------
    image : array_like
        Background-subtracted (or cleaned) image.
    threshold : float or array_like
        Detection threshold per pixel.
    n_pixels : int, optional
        Minimum number of connected pixels.
    mask : array_like of bool, optional
        Pixels to ignore.

    Returns
    -------
    x, y : `~numpy.ndarray`
        Centroids (pixels, 0-based).
    """
    from photutils.segmentation import SourceCatalog, detect_sources
    from photutils.utils.exceptions import NoDetectionsWarning

    image = np.asarray(image)
    with warnings.catch_warnings():  # no detection is an answer here, not a problem
        warnings.simplefilter('ignore', NoDetectionsWarning)
        segmentation = detect_sources(image, threshold, n_pixels, mask=mask)
    if segmentation is None:
        return np.zeros(0), np.zeros(0)
    catalog = SourceCatalog(image, segmentation, mask=mask)
    return np.asarray(catalog.x_centroid), np.asarray(catalog.y_centroid)


def detection_curve(image, thresholds, truth_x, truth_y, *, noise=None, radius=2.0,
                    n_pixels=5, mask=None):
    """
    True and false positives as the detection threshold sweeps.

    Parameters
    ----------
    image : array_like
        Background-subtracted (or cleaned) image.
    thresholds : sequence of float
        Thresholds to try: in the units of ``image``, or of ``noise`` if
        given.
    truth_x, truth_y : array_like
        True source positions.
    noise : float or array_like, optional
        Noise (map) that the thresholds multiply.
    radius : float, optional
        Match radius (pixels).
    n_pixels : int, optional
        Minimum connected pixels.
    mask : array_like of bool, optional
        Pixels to ignore.

    Returns
    -------
    curve : `~astropy.table.QTable`
        Columns ``threshold``, ``true_positives``, ``false_positives``.
    """
    rows = []
    scale = 1.0 if noise is None else np.asarray(noise, float)
    for threshold in thresholds:
        tp, fp = count_matches(*detect_positions(image, threshold * scale, n_pixels, mask),
                               truth_x, truth_y, radius)
        rows.append((threshold, tp, fp))
    return QTable(rows=rows, names=('threshold', 'true_positives', 'false_positives'))


def true_positives_at(curve, false_positives):
    """
    True positives at a given number of false positives, interpolated
    linearly along a detection curve (summed over fields if you like).

    Parameters
    ----------
    curve : `~astropy.table.QTable` or dict
        With ``true_positives`` and ``false_positives`` columns.
    false_positives : float
        The false-positive budget.

    Returns
    -------
    true_positives : float
        NaN if the curve never gets down to that many false positives.

    Examples
    --------
    >>> from bgrem.evaluation import true_positives_at
    >>> true_positives_at({'true_positives': [90, 80, 50], 'false_positives': [40, 10, 0]}, 25)
    85.0
    """
    tp = np.asarray(curve['true_positives'], float)
    fp = np.asarray(curve['false_positives'], float)
    order = np.lexsort((tp, fp))
    fp, tp = fp[order], tp[order]
    if fp.size == 0 or false_positives < fp[0]:
        return float('nan')
    # Best true positives for each false-positive count, then a monotone envelope.
    unique_fp, first = np.unique(fp, return_index=True)
    best_tp = np.maximum.accumulate(np.maximum.reduceat(tp, first))
    return float(np.interp(false_positives, unique_fp, best_tp))
