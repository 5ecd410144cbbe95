"""
Evaluation of a gamma-ray model on held-out simulated count-map patches.

The paper's Figs. 13, 14 and 16: on patches of a sky the model was not
trained on, (a) true vs false positives as the detection threshold sweeps,
for detection on the bgrem output and on the same patch after a local
background subtraction (photutils Background2D, sep); (b) the mean pixel
value of the cleaned patch against that of the true source-only patch, with
the slope of the relation, for the expected-count and the Poisson flavour.
"""

import time

import numpy as np

from ._plotting import plot_detection_curves, pyplot_for, save_figure
from .detection import detection_curve, true_positives_at

__all__ = ['GAMMA_THRESHOLDS', 'evaluate_gamma', 'format_gamma_report', 'plot_gamma_report']

#: Thresholds of the sweep, in units of the Poisson noise of the local
#: counts, ``sqrt(smoothed counts)`` (the same scale for every method).
GAMMA_THRESHOLDS = tuple(float(t) for t in np.round(np.geomspace(0.02, 30.0, 40), 4))
#: Mesh of the local background subtractions (pixels of 0.2 deg).
GAMMA_BOX_SIZE = 16
#: Minimum connected pixels of a detection (the PSF is about one pixel).
GAMMA_N_PIXELS = 3
#: Match radius in pixels (0.3 deg).
GAMMA_MATCH_RADIUS = 1.5
#: Sky seed of the test patches (training uses skies 1 and 2, see
#: `~bgrem.training.build_gamma_dataset`).
GAMMA_TEST_SKY = 3
#: Sources fainter than this (expected counts) are not counted as truth.
GAMMA_MIN_FLUX = 20.0
#: False positives per patch at which true positives are compared.
GAMMA_FP_BUDGETS = (0.05, 0.2, 1.0)


def _baseline(observed, method):
    if method == 'background2d':
        from photutils.background import Background2D

        return Background2D(observed, GAMMA_BOX_SIZE, filter_size=3).background
    import sep

    return sep.Background(np.ascontiguousarray(observed, float), bw=GAMMA_BOX_SIZE,
                          bh=GAMMA_BOX_SIZE, fw=3, fh=3).back()


def evaluate_gamma(model='gamma', *, n_patches=600, flavours=('expected', 'poisson'),
                   config=None, sky_seed=GAMMA_TEST_SKY, seed=900_000_000,
                   diffusion_steps=None, progress_bar=False):
    """
    Evaluate a gamma-ray model on held-out patches of a synthetic sky.

    Parameters
    ----------
    model : str, path-like or `~bgrem.model.registry.BGRemModel`, optional
        The model.
    n_patches : int, optional
        Patches per flavour.
    flavours : sequence of str, optional
        ``'expected'`` (noiseless counts) and/or ``'poisson'``.
    config : `~bgrem.simulate.GammaSkyConfig`, optional
        Sky and patch settings; the simulator's defaults.
    sky_seed : int, optional
        Sky of the test patches (not one the model was trained on).
    seed : int, optional
        Seed of the first patch.
    diffusion_steps : int, optional
        Steps; by default the model's.
    progress_bar : bool, optional
        Show progress.

    Returns
    -------
    report : dict
        ``settings`` and, per flavour, ``curves`` (true and false positives
        summed over the patches, per method), ``true_positives_at`` (per
        budget of false positives per patch), ``mean_pixel`` (per patch:
        truth, bgrem unclipped and clipped), ``slope`` (least-squares slope
        through the origin of bgrem against truth, unclipped and clipped)
        and ``seconds_per_patch``.
    """
    from tqdm.auto import tqdm

    from ..background import BGRemBackground
    from ..model.normalization import poisson_normalization
    from ..model.registry import load_model
    from ..simulate import GammaSky, GammaSkyConfig

    model = load_model(model)
    config = GammaSkyConfig() if config is None else config
    sky = GammaSky(config, sky_seed=sky_seed)
    report = {'settings': {
        'model': model.name, 'n_patches': int(n_patches), 'sky_seed': int(sky_seed),
        'seed': int(seed), 'diffusion_steps': int(diffusion_steps or model.card.default_steps),
        'thresholds_in_poisson_sigma': list(GAMMA_THRESHOLDS), 'box_size': GAMMA_BOX_SIZE,
        'n_pixels': GAMMA_N_PIXELS, 'match_radius': GAMMA_MATCH_RADIUS,
        'min_flux': GAMMA_MIN_FLUX, 'date': time.strftime('%Y-%m-%d')}}
    methods = ('bgrem', 'background2d', 'sep')
    for flavour in flavours:
        curves = {m: 0 for m in methods}
        means = {'truth': [], 'bgrem': [], 'bgrem_clipped': []}
        n_true, seconds = 0, 0.0
        for i in tqdm(range(n_patches), desc=f'gamma {flavour}', disable=not progress_bar):
            patch = sky.patch(seed=seed + i, flavour=flavour)
            observed = patch.observed.astype(float)
            catalog = patch.catalog
            keep = np.asarray(catalog['inside']) & (np.asarray(
                getattr(catalog['flux'], 'value', catalog['flux'])) >= GAMMA_MIN_FLUX)
            truth_x = np.asarray(getattr(catalog['x'], 'value', catalog['x']))[keep]
            truth_y = np.asarray(getattr(catalog['y'], 'value', catalog['y']))[keep]
            n_true += int(keep.sum())
            start = time.perf_counter()
            bkg = BGRemBackground(observed, model, diffusion_steps=diffusion_steps)
            seconds += time.perf_counter() - start
            scale = 1.0 / poisson_normalization(observed)
            images = {'bgrem': np.asarray(bkg.cleaned, float)}
            for method in methods[1:]:
                images[method] = observed - _baseline(observed, method)
            for method, image in images.items():
                curve = detection_curve(image, GAMMA_THRESHOLDS, truth_x, truth_y, noise=scale,
                                        radius=GAMMA_MATCH_RADIUS, n_pixels=GAMMA_N_PIXELS)
                curves[method] = curves[method] + np.column_stack(
                    [curve['true_positives'], curve['false_positives']])
            means['truth'].append(float(np.mean(patch.sources)))
            means['bgrem'].append(float(np.mean(bkg.unclipped)))
            means['bgrem_clipped'].append(float(np.mean(bkg.cleaned)))
        truth = np.asarray(means['truth'])
        slopes = {name: float(np.sum(truth * np.asarray(means[name])) / np.sum(truth ** 2))
                  for name in ('bgrem', 'bgrem_clipped')}
        summed = {m: {'true_positives': c[:, 0].tolist(), 'false_positives': c[:, 1].tolist()}
                  for m, c in curves.items()}
        report[flavour] = {
            'n_true': n_true, 'curves': summed,
            'true_positives_at': {str(b): {m: true_positives_at(summed[m], b * n_patches)
                                           for m in methods} for b in GAMMA_FP_BUDGETS},
            'mean_pixel': means, 'slope': slopes,
            'seconds_per_patch': seconds / n_patches}
    return report


def format_gamma_report(report):
    """The report of `evaluate_gamma` as a printable table."""
    s = report['settings']
    lines = [f"bgrem evaluate (gamma): model {s['model']}, {s['diffusion_steps']} steps, "
             f"{s['n_patches']} test patches per flavour of sky {s['sky_seed']} ({s['date']})"]
    for flavour in ('expected', 'poisson'):
        if flavour not in report:
            continue
        r = report[flavour]
        lines.append('')
        lines.append(f"[{flavour}] {r['n_true']} true sources (>= {s['min_flux']:g} counts); "
                     'true positives at false positives per patch:')
        budgets = list(r['true_positives_at'])
        lines.append('  ' + ' ' * 14 + ''.join(f'{b + " FP":>12}' for b in budgets))
        for method in r['curves']:
            cells = []
            for b in budgets:
                value = r['true_positives_at'][b][method]
                base = max(r['true_positives_at'][b][m] for m in ('background2d', 'sep'))
                ratio = value / base if base and np.isfinite(value) else np.nan
                cells.append(f'{value:7.0f} x{ratio:4.2f}' if method == 'bgrem'
                             else f'{value:12.0f}')
            lines.append(f'  {method:14s}' + ''.join(f'{c:>12}' for c in cells))
        lines.append(f"  slope of mean(cleaned) vs mean(source-only): unclipped "
                     f"{r['slope']['bgrem']:.3f}, clipped {r['slope']['bgrem_clipped']:.3f}; "
                     f"{r['seconds_per_patch'] * 1000:.0f} ms per patch")
    return '\n'.join(lines)


def plot_gamma_report(report, folder):
    """
    Write ``gamma_tp_vs_fp.png`` and ``gamma_mean_pixel.png`` for a report
    of `evaluate_gamma`.

    Returns
    -------
    paths : list of `pathlib.Path`
    """
    plt, folder = pyplot_for(folder)
    flavours = [f for f in ('expected', 'poisson') if f in report]
    fig, axes = plt.subplots(1, len(flavours), figsize=(4.5 * len(flavours), 3.6),
                             squeeze=False)
    for ax, flavour in zip(axes[0], flavours):
        plot_detection_curves(ax, report[flavour]['curves'], f'{flavour} counts',
                              report[flavour]['n_true'])
    axes[0, 0].legend(fontsize=8)
    paths = [save_figure(plt, fig, folder / 'gamma_tp_vs_fp.png')]

    fig, axes = plt.subplots(1, len(flavours), figsize=(4.5 * len(flavours), 3.6),
                             squeeze=False)
    for ax, flavour in zip(axes[0], flavours):
        means = report[flavour]['mean_pixel']
        truth = np.asarray(means['truth'])
        for name in ('bgrem', 'bgrem_clipped'):
            ax.plot(truth, means[name], '.', ms=2,
                    label=f"{name} (slope {report[flavour]['slope'][name]:.2f})")
        top = max(truth.max(), 1e-3)
        ax.plot([0, top], [0, top], 'k-', lw=0.8)
        ax.set_title(f'{flavour} counts', fontsize=10)
        ax.set_xlabel('mean of source-only patch (counts/pixel)')
        ax.set_ylabel('mean of cleaned patch')
        ax.legend(fontsize=8)
    paths.append(save_figure(plt, fig, folder / 'gamma_mean_pixel.png'))
    return paths
