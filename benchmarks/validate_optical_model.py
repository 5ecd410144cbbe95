"""
Validation report of an optical model on held-out simulated fields.

The test fields of a dataset made by ``bgrem simulate`` are simulated again
from their seeds (so the truth catalogues are at hand) and cleaned with
bgrem.  The report gives

(a) the mean absolute error (MAE) of the cleaned image against the true
    source image, in units of the noise, for 1 to 15 diffusion steps, next
    to photutils Background2D-subtracted data and a median-subtracted image;
(b) pixel-value histograms of the truth, the bgrem output and the
    Background2D-subtracted data;
(c) detection with photutils ``detect_sources`` (5 connected pixels) as the
    threshold sweeps: true and false positives summed over the fields, for
    bgrem, Background2D subtraction and, as a control, Background2D
    subtraction followed by Gaussian smoothing with the seeing.

Usage::

    python benchmarks/validate_optical_model.py runs/optical_tiles.h5 \
        --model optical --fields 40 --output docs/validation
"""

import argparse
import json
import pathlib
import time

import numpy as np

STEPS = (1, 2, 3, 4, 6, 8, 10, 12, 15)
THRESHOLDS = tuple(np.round(np.geomspace(0.05, 8.0, 30), 4))
MATCH_RADIUS = 2.5
FP_BUDGETS = (10, 30, 100)


def _fields(dataset, n_fields):
    import h5py

    from bgrem.simulate import simulate_optical_field
    from bgrem.training import field_config

    with h5py.File(dataset, 'r') as h5:
        attrs = dict(h5.attrs)
    seeds = json.loads(attrs['split_fields'])['test'][:n_fields]
    for seed in seeds:
        yield simulate_optical_field(field_config(attrs, seed), seed=int(seed))


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dataset', help='HDF5 file from bgrem simulate (test split seeds)')
    parser.add_argument('--model', default='optical')
    parser.add_argument('--fields', type=int, default=40)
    parser.add_argument('--detection-steps', type=int, default=None,
                        help="steps for the detection test (default: the model's)")
    parser.add_argument('--output', default='docs/validation')
    options = parser.parse_args(args)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from photutils.background import Background2D
    from scipy.ndimage import gaussian_filter

    from bgrem import BGRemBackground, load_model
    from bgrem.evaluation import detection_curve, true_positives_at

    model = load_model(options.model)
    steps_for_detection = options.detection_steps or model.card.default_steps
    out = pathlib.Path(options.output)
    out.mkdir(parents=True, exist_ok=True)

    mae = {s: [] for s in STEPS}
    mae_clipped = {s: [] for s in STEPS}
    mae_b2d, mae_median = [], []
    curves = {'bgrem': 0, 'background2d': 0, 'background2d_smoothed': 0}
    histograms = {'truth': [], 'bgrem': [], 'background2d': []}
    n_truth = 0
    seconds = 0.0
    for field in _fields(options.dataset, options.fields):
        data = field.observed.astype(np.float64)
        noise = float(np.median(field.noise_sigma))
        truth = field.catalog
        tx, ty = np.asarray(truth['x'].value), np.asarray(truth['y'].value)
        inside = (tx >= 0) & (tx <= data.shape[1] - 1) & (ty >= 0) & (ty <= data.shape[0] - 1)
        truth = truth[inside]
        n_truth += len(truth)
        cleaned_for_detection = None
        for s in STEPS:
            start = time.perf_counter()
            bkg = BGRemBackground(data, model, diffusion_steps=s)
            seconds += time.perf_counter() - start
            mae[s].append(np.mean(np.abs(bkg.unclipped - field.sources)) / noise)
            mae_clipped[s].append(np.mean(np.abs(bkg.cleaned - field.sources)) / noise)
            if s == steps_for_detection:
                cleaned_for_detection = np.asarray(bkg.cleaned)
        if cleaned_for_detection is None:
            cleaned_for_detection = np.asarray(
                BGRemBackground(data, model, diffusion_steps=steps_for_detection).cleaned)
        b2d = Background2D(data, 64, filter_size=3)
        subtracted = data - b2d.background
        mae_b2d.append(np.mean(np.abs(subtracted - field.sources)) / noise)
        mae_median.append(np.mean(np.abs(data - np.median(data) - field.sources)) / noise)
        seeing_sigma = field.seeing_fwhm / field.config.pixel_scale / 2.3548
        smoothed = gaussian_filter(subtracted, seeing_sigma)
        smoothed_noise = noise / (2 * np.sqrt(np.pi) * seeing_sigma)  # white noise after smoothing
        for name, image, scale in (('bgrem', cleaned_for_detection, noise),
                                   ('background2d', subtracted, noise),
                                   ('background2d_smoothed', smoothed, smoothed_noise)):
            curve = detection_curve(image, THRESHOLDS, truth['x'].value, truth['y'].value,
                                    noise=scale, radius=MATCH_RADIUS)
            counts = np.column_stack([curve['true_positives'], curve['false_positives']])
            curves[name] = curves[name] + counts
        for name, image in (('truth', field.sources), ('bgrem', cleaned_for_detection),
                            ('background2d', subtracted)):
            histograms[name].append(np.asarray(image).ravel() / noise)

    n_fields = len(mae_b2d)
    report = {
        'date': time.strftime('%Y-%m-%d'), 'model': model.name, 'fields': n_fields,
        'field_shape': list(data.shape), 'true_sources': int(n_truth),
        'mae_vs_steps': {str(s): float(np.mean(v)) for s, v in mae.items()},
        'mae_clipped_vs_steps': {str(s): float(np.mean(v)) for s, v in mae_clipped.items()},
        'mae_background2d': float(np.mean(mae_b2d)),
        'mae_median_subtracted': float(np.mean(mae_median)),
        'detection_steps': steps_for_detection, 'match_radius': MATCH_RADIUS,
        'thresholds_in_noise_sigma': list(THRESHOLDS),
        'detection': {name: {'true_positives': c[:, 0].tolist(),
                             'false_positives': c[:, 1].tolist()}
                      for name, c in curves.items()},
        'bgrem_seconds_all_steps': seconds,
    }
    report['true_positives_at_false_positives'] = {
        str(budget): {name: true_positives_at(curve, budget)
                      for name, curve in report['detection'].items()}
        for budget in FP_BUDGETS}
    best = min(STEPS, key=lambda s: report['mae_vs_steps'][str(s)])
    report['best_steps_by_mae'] = best
    (out / 'optical_report.json').write_text(json.dumps(report, indent=2) + '\n')

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(STEPS, [report['mae_vs_steps'][str(s)] for s in STEPS], 'o-', label='bgrem unclipped')
    ax.plot(STEPS, [report['mae_clipped_vs_steps'][str(s)] for s in STEPS], 's--',
            label='bgrem clipped')
    ax.axhline(report['mae_background2d'], color='k', ls=':', label='Background2D-subtracted')
    ax.set_xlabel('diffusion steps')
    ax.set_ylabel('MAE vs truth / noise sigma')
    ax.set_yscale('log')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'optical_mae_vs_steps.png', dpi=110)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(-5, 20, 126)
    for name in histograms:
        ax.hist(np.concatenate(histograms[name]), bins=bins, histtype='step', label=name)
    ax.set_yscale('log')
    ax.set_xlabel('pixel value / noise sigma')
    ax.set_ylabel('pixels')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'optical_pixel_histogram.png', dpi=110)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, c in curves.items():
        ax.plot(c[:, 1], c[:, 0], '.-', label=name)
    ax.set_xscale('symlog', linthresh=1)
    ax.set_xlabel('false positives (all fields)')
    ax.set_ylabel(f'true positives (of {n_truth})')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'optical_tp_vs_fp.png', dpi=110)

    print(f'{n_fields} test fields of {data.shape}, {n_truth} true sources, model {model.name}')
    print('MAE / noise sigma vs steps (unclipped): ' + ', '.join(
        f'{s}: {report["mae_vs_steps"][str(s)]:.3f}' for s in STEPS))
    print(f'MAE Background2D-subtracted: {report["mae_background2d"]:.3f}; '
          f'median-subtracted: {report["mae_median_subtracted"]:.3f}; best steps: {best}')
    for budget, row in report['true_positives_at_false_positives'].items():
        print(f'TP at {budget} FP: ' + ', '.join(f'{k} {v:.0f}' for k, v in row.items()))


if __name__ == '__main__':
    main()
