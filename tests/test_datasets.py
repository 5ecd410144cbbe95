import numpy as np

from bgrem.datasets import make_demo_image


def test_demo_image_truth():
    data, sources, truth = make_demo_image((200, 150), n_stars=30, noise_std=2.0,
                                           sky_level=50.0, gradient=0.2, seed=3)
    assert data.shape == sources.shape == (200, 150)
    assert len(truth) == 31 and list(truth['kind']).count('galaxy') == 1
    residual = data - sources
    # sky gradient: 50 * (1 + 0.2 * (x / 149 - 0.5)), plus noise of std 2
    expected_sky = 50.0 * (1 + 0.2 * (np.arange(150) / 149 - 0.5))
    np.testing.assert_allclose(residual.mean(axis=0), expected_sky, atol=1.0)
    assert 1.9 < np.std(residual - expected_sky) < 2.1
    stars = truth[truth['kind'] == 'star']
    assert np.all((stars['flux'] >= 60) & (stars['flux'] <= 2e4))


def test_demo_image_is_seeded():
    a = make_demo_image((64, 64), 5, seed=1)[0]
    b = make_demo_image((64, 64), 5, seed=1)[0]
    c = make_demo_image((64, 64), 5, seed=2)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
