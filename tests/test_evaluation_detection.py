import numpy as np
import pytest

from bgrem.evaluation import (count_matches, detect_positions, detection_curve,
                              true_positives_at)


def test_matches_are_one_to_one():
    # two detections near one true source: one true positive, one false
    assert count_matches([10.0, 10.5], [10.0, 10.0], [10.2], [10.0]) == (1, 1)
    # optimal assignment: the greedy choice would leave the second truth unmatched
    assert count_matches([1.0, 2.6], [0.0, 0.0], [0.0, 2.0], [0.0, 0.0], radius=1.1) == (2, 0)
    assert count_matches([], [], [1.0], [1.0]) == (0, 0)
    assert count_matches([1.0], [1.0], [], []) == (0, 1)
    assert count_matches([5.0], [5.0], [1.0], [1.0]) == (0, 1)


def test_detection_curve_on_known_sources():
    rng = np.random.default_rng(0)
    image = rng.normal(0.0, 1.0, (120, 120))
    yy, xx = np.mgrid[:120, :120]
    truth = np.array([[20.0, 30.0], [80.0, 90.0], [60.0, 20.0]])
    for x0, y0 in truth:
        image += 30.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 1.5 ** 2))
    x, y = detect_positions(image, 5.0)
    assert count_matches(x, y, truth[:, 0], truth[:, 1]) == (3, 0)
    curve = detection_curve(image, [1.0, 5.0, 100.0], truth[:, 0], truth[:, 1])
    assert list(curve['true_positives']) == [3, 3, 0]
    assert curve['false_positives'][0] > 0 and curve['false_positives'][1] == 0


def test_true_positives_at():
    curve = {'true_positives': [90, 80, 50, 30], 'false_positives': [40, 10, 0, 0]}
    assert true_positives_at(curve, 10) == 80
    assert true_positives_at(curve, 0) == 50
    assert true_positives_at(curve, 25) == pytest.approx(85)
    assert true_positives_at(curve, 1000) == 90
    assert np.isnan(true_positives_at({'true_positives': [5], 'false_positives': [3]}, 1))
