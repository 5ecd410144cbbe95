"""
The evaluation suite: bgrem against photutils, sep and SExtractor
background subtraction on simulated fields with truth.

For every field the same detector (`bgrem.detect_sources`, photutils
segmentation, 5 connected pixels) runs on the output of every method, so
only the background subtraction differs.  Metrics per field condition:

- true vs false positives as the detection threshold sweeps (the paper's
  Fig. 8), and true positives at fixed false-positive budgets;
- flux ratio ``F_measured / F_true`` against S/N for isolated point-like
  sources (Fig. 6): bgrem photometry on the unclipped image, on the clipped
  image, and the baselines;
- the fraction of the flux of large, low surface brightness galaxies kept;
- mean and standard deviation of the residual (output minus truth) in
  source-free pixels, in units of the noise;
- wall time per megapixel.

Two controls run beside them, because a detection gain means little alone:
the sep-subtracted image smoothed with a Gaussian of the seeing (what plain
matched filtering gains) and the data minus a running median a few FWHM
wide (`median_filter_subtraction`: it flattens any sky structure and wins
detections there, at the cost of the fluxes).
"""

import functools
import time

import numpy as np

from ..detection import median_highpass
from .conditions import FIELD_CONDITIONS, condition_config
from .detection import detection_curve, match_to_truth, true_positives_at
from ._plotting import plot_detection_curves, pyplot_for, save_figure
from .methods import (HAS_SEXTRACTOR, SubtractedImage, median_filter_subtraction,
                      subtract_background)

__all__ = ['DETECTION_THRESHOLDS', 'FP_BUDGETS_PER_FIELD', 'MEDIAN_FILTER_FWHM',
           'evaluate_conditions', 'evaluate_field', 'format_report', 'plot_report',
           'summarize']

#: Thresholds of the sweep, in units of each method's noise map: 0.05 to 111
#: in steps of a factor 1.187 (up to 20 until 2026-12: the smoothed control,
#: whose noise map is that of white noise, did not get down to a few false
#: positives per field there in crowded fields and under sky structure).
DETECTION_THRESHOLDS = tuple(float(t) for t in np.round(0.05 * 400 ** (np.arange(46) / 35), 4))
#: Width of the running median of the ``median_filter`` control and of the
#: high-pass of ``bgrem_highpass``, in seeing FWHM (of 3, 5 and 8 tried for
#: the control on 4 default and 4 structured-sky fields, 3 and 5 found the
#: most sources under sky structure, 5 and 8 on default fields).
MEDIAN_FILTER_FWHM = 5
#: False positives per field at which true positives are compared.
FP_BUDGETS_PER_FIELD = (1, 3, 10)
#: Thresholds (noise units) of the catalogues used for photometry.
PHOTOMETRY_THRESHOLDS = {'bgrem': 1.0, 'baseline': 3.0}
#: Bins of true S/N for the flux-ratio summary.
SNR_BINS = (5, 10, 20, 50, 100, 1000, np.inf)
#: Seeds of evaluation fields start here (training fields use 2026xxxxx).
EVALUATION_SEED = 700_000_000


def _plain(value):
    return np.asarray(getattr(value, 'value', value), float)


def _truth_inside(field):
    catalog = field.catalog
    ny, nx = field.observed.shape
    x, y = _plain(catalog['x']), _plain(catalog['y'])
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    return catalog[inside]


def _isolated_point_sources(truth, fwhm, shape):
    """Stars and small galaxies with no neighbour that adds 2% of their flux nearby."""
    from scipy.spatial import cKDTree

    x, y, flux = _plain(truth['x']), _plain(truth['y']), _plain(truth['flux'])
    small = (_plain(truth['half_light_radius']) < fwhm) & ~np.asarray(truth['large']) \
        & ~np.asarray(truth['saturated'])
    margin = 3 * fwhm
    inside = (x > margin) & (y > margin) & (x < shape[1] - margin) & (y < shape[0] - margin)
    tree = cKDTree(np.column_stack([x, y]))
    isolated = np.ones(len(truth), bool)
    for i, neighbours in enumerate(tree.query_ball_point(np.column_stack([x, y]), 3 * fwhm)):
        others = [j for j in neighbours if j != i]
        isolated[i] = not np.any(flux[others] > 0.02 * flux[i])
    return small & inside & isolated


def _flux_ratios(subtracted, threshold, truth, selected, radius, flux_columns=('flux',),
                 **detect_options):
    """
    Flux ratio and S/N (true flux over the flux error) of the ``selected``
    true sources that are found, for each of the ``flux_columns`` of one
    catalogue: ``{column: {'ratio': [...], 'snr': [...]}}``.
    """
    from ..detection import detect_sources

    catalog = detect_sources(None, subtracted, threshold=threshold, **detect_options).catalog
    return _catalog_flux_ratios(catalog, truth, selected, radius, flux_columns)


def _catalog_flux_ratios(catalog, truth, selected, radius, flux_columns=('flux',)):
    """`_flux_ratios` of a catalogue already made."""
    detections, truths = match_to_truth(catalog['x_centroid'], catalog['y_centroid'],
                                        _plain(truth['x']), _plain(truth['y']), radius)
    keep = selected[truths]
    detections, truths = detections[keep], truths[keep]
    true_flux = _plain(truth['flux'])[truths]
    return {column: {'ratio': (_plain(catalog[column])[detections] / true_flux).tolist(),
                     'snr': (true_flux / _plain(catalog[f'{column}_err'])[detections]).tolist()}
            for column in flux_columns}


def _true_sky_image(field):
    """The data minus the true noiseless sky: the reference no method can beat by much."""
    data, sky = field.observed.astype(float), field.sky.astype(float)
    return SubtractedImage('true_sky', data - sky, data - sky, sky,
                           np.broadcast_to(_plain(field.noise_sigma), data.shape))


def _large_galaxy_apertures(truth, shape):
    """
    Twice the half-light ellipse of each large galaxy of ``truth`` that lies
    wholly inside an image of ``shape``: ``[(galaxy row, aperture), ...]``.
    """
    from photutils.aperture import EllipticalAperture

    ny, nx = shape
    apertures = []
    for galaxy in truth[np.asarray(truth['large'])]:
        x, y, r = (_plain(galaxy[k]) for k in ('x', 'y', 'half_light_radius'))
        q = 1 - float(galaxy['ellipticity'])
        a, b = 2 * r / np.sqrt(q), 2 * r * np.sqrt(q)
        if x - a < 0 or y - a < 0 or x + a > nx - 1 or y + a > ny - 1:
            continue
        apertures.append((galaxy, EllipticalAperture(
            (float(x), float(y)), float(a), float(b),
            theta=np.deg2rad(_plain(galaxy['position_angle'])))))
    return apertures


def _extended_flux(images, truth, sources):
    """Flux kept within twice the half-light ellipse of each large galaxy."""
    from photutils.aperture import aperture_photometry

    rows = []
    for _, aperture in _large_galaxy_apertures(truth, sources.shape):
        total = float(aperture_photometry(sources, aperture)['aperture_sum'][0])
        rows.append({name: float(aperture_photometry(image, aperture)['aperture_sum'][0])
                     / total for name, image in images.items()})
    return {name: [row[name] for row in rows] for name in images}


def evaluate_field(field, model, *, diffusion_steps=None, methods=None, thresholds=None):
    """
    Evaluate bgrem and the baseline methods on one simulated field.

    Parameters
    ----------
    field : `~bgrem.simulate.SimulatedField`
        A field with its truth.
    model : str, path-like or `~bgrem.model.registry.BGRemModel`
        The bgrem model.
    diffusion_steps : int, optional
        Steps of bgrem; by default the model's.
    methods : sequence of str, optional
        Baselines among ``'background2d'``, ``'sep'``, ``'sextractor'``;
        by default all that are installed.
    thresholds : sequence of float, optional
        Detection thresholds in noise units; by default
        `DETECTION_THRESHOLDS`.

    Returns
    -------
    result : dict
        ``curves`` (true and false positives per threshold and method,
        including ``bgrem_highpass``, bgrem with ``highpass_width`` of
        `MEDIAN_FILTER_FWHM` seeing FWHM in `bgrem.detect_sources`, and the
        controls ``sep_smoothed``, sep subtraction then a
        Gaussian of the seeing, and ``median_filter``, the data minus a
        running median `MEDIAN_FILTER_FWHM` seeing FWHM wide), ``flux``
        (ratios and true S/N of isolated point-like sources per method, and
        for ``true_sky``: the same photometry on the data minus the true
        noiseless sky, the floor that noise and the apertures leave to any
        background method; ``bgrem_psf`` and ``true_sky_psf``:
        ``psf_flux`` with the field's true PSF), ``extended`` (flux fraction
        kept per large galaxy), ``residual`` (mean and std in source-free
        pixels / noise), ``seconds`` and ``n_true``.  ``sep_smoothed``
        measures fluxes on the sep-subtracted image, so it has only a curve;
        ``bgrem_highpass`` changes no pixel of bgrem's output, so it has no
        extended, residual or time entry.
    """
    from ..background import BGRemBackground

    methods = _baselines(methods)
    thresholds = DETECTION_THRESHOLDS if thresholds is None else tuple(thresholds)
    data = field.observed.astype(float)
    sources = field.sources.astype(float)
    noise = _plain(field.noise_sigma)
    noise_median = float(np.median(noise))
    fwhm = field.seeing_fwhm / field.config.pixel_scale
    radius = max(2.5, 0.5 * fwhm)
    truth = _truth_inside(field)
    selected = _isolated_point_sources(truth, fwhm, data.shape)

    start = time.perf_counter()
    bkg = BGRemBackground(data, model, diffusion_steps=diffusion_steps)
    bgrem_seconds = time.perf_counter() - start
    outputs = {'bgrem': SubtractedImage.from_bgrem(bkg, clipped=False, seconds=bgrem_seconds)}
    for method in methods:
        outputs[method] = subtract_background(data, method)
    width = 2 * round(MEDIAN_FILTER_FWHM * fwhm / 2) + 1
    outputs['median_filter'] = median_filter_subtraction(data, width)
    control = outputs.get('sep') or subtract_background(data, 'sep')
    bgrem = outputs['bgrem']
    highpass = SubtractedImage('bgrem_highpass', median_highpass(bgrem.cleaned, width),
                               bgrem.unclipped, bgrem.smooth_background, bgrem.background_rms)
    detect_on = dict(outputs, bgrem_highpass=highpass,
                     sep_smoothed=control.smoothed(fwhm / 2.3548))

    curves = {}
    for name, image in detect_on.items():
        curve = detection_curve(image.cleaned, thresholds, _plain(truth['x']),
                                _plain(truth['y']), noise=image.background_rms, radius=radius)
        curves[name] = {'true_positives': np.asarray(curve['true_positives']).tolist(),
                        'false_positives': np.asarray(curve['false_positives']).tolist()}

    photometry = dict(outputs, bgrem_clipped=SubtractedImage.from_bgrem(bkg, clipped=True),
                      true_sky=_true_sky_image(field))
    flux, psf_flux = {}, {}
    psf = field.psf_model()
    for name, image in photometry.items():
        threshold = PHOTOMETRY_THRESHOLDS['bgrem' if name.startswith('bgrem') else 'baseline']
        if name in ('bgrem', 'true_sky'):  # one catalogue with Kron and PSF-fit fluxes
            measured = _flux_ratios(image, threshold, truth, selected, radius,
                                    flux_columns=('flux', 'psf_flux'), psf_model=psf)
            flux[name], psf_flux[f'{name}_psf'] = measured['flux'], measured['psf_flux']
        else:
            flux[name] = _flux_ratios(image, threshold, truth, selected, radius)['flux']
        if name == 'bgrem':
            flux['bgrem_highpass'] = _flux_ratios(image, threshold, truth, selected, radius,
                                                  highpass_width=width)['flux']
    flux.update(psf_flux)  # the PSF-fit rows after the others in the report

    others = [name for name in outputs if name != 'bgrem']
    extended = _extended_flux({'bgrem': outputs['bgrem'].unclipped,
                               'bgrem_clipped': outputs['bgrem'].cleaned,
                               **{m: outputs[m].unclipped for m in others}}, truth, sources)
    free = sources < 0.05 * noise
    residual = {}
    for name, image in (('bgrem', outputs['bgrem'].unclipped),
                        ('bgrem_clipped', outputs['bgrem'].cleaned),
                        *((m, outputs[m].unclipped) for m in others)):
        values = ((image - sources) / noise)[free]
        residual[name] = {'mean': float(np.mean(values)), 'std': float(np.std(values))}
    return {
        'seed': int(field.seed), 'shape': list(data.shape), 'n_true': len(truth),
        'n_isolated': int(selected.sum()), 'seeing_fwhm_pix': float(fwhm),
        'noise_median': noise_median, 'match_radius': float(radius),
        'curves': curves, 'flux': flux, 'extended': extended, 'residual': residual,
        'seconds': {name: image.seconds for name, image in outputs.items()},
    }


def _baselines(methods):
    if methods is None:
        return ('background2d', 'sep') + (('sextractor',) if HAS_SEXTRACTOR else ())
    methods = tuple(methods)
    if 'sextractor' in methods and not HAS_SEXTRACTOR:
        methods = tuple(m for m in methods if m != 'sextractor')
    return methods


def evaluate_conditions(model='optical', *, conditions=None, n_fields=8, shape=(512, 512),
                        diffusion_steps=None, methods=None, seed=EVALUATION_SEED, workers=1,
                        progress_bar=False):
    """
    Run `evaluate_field` on ``n_fields`` simulated fields per condition and
    summarise.

    Parameters
    ----------
    model : str, path-like or `~bgrem.model.registry.BGRemModel`, optional
        The bgrem model.
    conditions : sequence of str, optional
        Keys of `~bgrem.evaluation.FIELD_CONDITIONS`; by default all.
    n_fields : int, optional
        Fields per condition.
    shape : tuple of int, optional
        Field shape.
    diffusion_steps : int, optional
        Steps of bgrem; by default the model's.
    methods : sequence of str, optional
        Baselines (see `evaluate_field`).
    seed : int, optional
        Seed of the first field; the ``k``-th condition of
        `~bgrem.evaluation.FIELD_CONDITIONS` uses seeds ``seed + 10000 k +
        i``, far from the training fields, whichever conditions are asked
        for.
    workers : int, optional
        Evaluate fields in this many processes (each loads the model once);
        the results are the same for any number, but for the timings, which
        share the cores.  More than 1 needs ``model`` as a name or path.
    progress_bar : bool, optional
        Show a progress bar over the fields.

    Returns
    -------
    report : dict
        ``settings``, ``conditions`` (a summary per condition, see
        `format_report`) and ``fields`` (every `evaluate_field` result).

    Raises
    ------
    ValueError
        For an unknown condition, ``workers`` below 1, or more than one
        worker with a loaded model.
    """
    import os

    from .._parallel import process_map
    from ..model.registry import load_model

    if int(workers) > 1 and not isinstance(model, (str, os.PathLike)):
        raise ValueError('workers > 1 needs the model as a name or path, not a loaded model')
    reference = model
    model = load_model(model)
    conditions = list(FIELD_CONDITIONS) if conditions is None else list(conditions)
    for condition in conditions:
        condition_config(condition, shape)  # fail early on a typo
    jobs = [(c, seed + 10000 * list(FIELD_CONDITIONS).index(c) + i, tuple(shape))
            for c in conditions for i in range(n_fields)]
    # One process evaluates with the model loaded here; workers load their own.
    evaluate = functools.partial(_evaluate_simulated_field,
                                 model=model if int(workers) == 1 else None,
                                 diffusion_steps=diffusion_steps, methods=methods)
    fields = {c: [] for c in conditions}
    with process_map(workers, _load_worker_model, (reference,)) as mapper:
        results = mapper(evaluate, jobs)
        if progress_bar:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(jobs), desc='bgrem evaluate', unit='field')
        for (condition, _, _), result in zip(jobs, results):
            fields[condition].append(result)
    steps = model.card.default_steps if diffusion_steps is None else diffusion_steps
    return {
        'settings': {'model': model.name, 'diffusion_steps': int(steps),
                     'n_fields': int(n_fields), 'shape': list(shape),
                     'baselines': list(_baselines(methods)), 'seed': int(seed),
                     'thresholds': list(DETECTION_THRESHOLDS),
                     'photometry_thresholds': PHOTOMETRY_THRESHOLDS,
                     'date': time.strftime('%Y-%m-%d')},
        'conditions': {c: summarize(results) for c, results in fields.items()},
        'fields': fields,
    }


#: The model of a worker process (`_load_worker_model`).
_WORKER_MODEL = None


def _load_worker_model(model):
    """Load the model of a worker process, by name or path."""
    from ..model.registry import load_model

    global _WORKER_MODEL
    _WORKER_MODEL = load_model(model)


def _evaluate_simulated_field(job, model=None, diffusion_steps=None, methods=None):
    """
    `evaluate_field` on the field ``(condition, seed, shape)`` of a job, with
    ``model`` or, in a worker process, the worker's model.
    """
    from ..simulate import simulate_optical_field

    condition, seed, shape = job
    field = simulate_optical_field(condition_config(condition, shape), seed=seed)
    return evaluate_field(field, _WORKER_MODEL if model is None else model,
                          diffusion_steps=diffusion_steps, methods=methods)


def _bootstrap_interval(values, statistic, n_resamples=1000, seed=0):
    """16th and 84th percentiles of ``statistic`` over bootstrap resamples
    of ``values`` (a 1-sigma interval); None for fewer than 2 values."""
    values = np.asarray(values, float)
    if values.size < 2:
        return None
    rng = np.random.default_rng(seed)
    samples = values[rng.integers(0, values.size, (n_resamples, values.size))]
    low, high = np.percentile(statistic(samples, axis=1), [16, 84])
    return [float(low), float(high)]


def _photometry_summary(ratio, snr, min_snr=20.0):
    """
    Median flux ratio, median ``abs(ratio - 1)`` with its bootstrap 16-84%
    interval, and number of the sources with S/N above ``min_snr`` (NaN
    ratios left out); None when there are none.
    """
    ratio, snr = np.asarray(ratio, float), np.asarray(snr, float)
    bright = (snr > min_snr) & np.isfinite(ratio)
    if not bright.any():
        return None
    deviation = np.abs(ratio[bright] - 1)
    return {'median_ratio': float(np.median(ratio[bright])),
            'median_abs_deviation': float(np.median(deviation)),
            'median_abs_deviation_interval': _bootstrap_interval(deviation, np.median),
            'n': int(bright.sum())}


def _photometry_line(name, summary, width=24):
    """One line of a benchmark's photometry table (see `_photometry_summary`)."""
    if summary is None:
        return f'  {name:{width}s} -'
    interval = summary['median_abs_deviation_interval']
    interval_text = _interval_text(interval, '{:.4f}') if interval else ' [-]'
    return (f"  {name:{width}s} {summary['median_ratio']:.4f}  "
            f"{summary['median_abs_deviation']:.4f}{interval_text}  {summary['n']:5d}")


def summarize(results):
    """
    Summary of the `evaluate_field` results of one condition.

    Returns
    -------
    summary : dict
        ``true_positives_at`` (per FP budget per field, per method), the
        summed ``curves``, ``flux`` (median ratio and median ``abs(ratio - 1)`` at
        S/N > 20 with a bootstrap 16-84% interval of the latter, median ratio
        per S/N bin), ``extended`` (median fraction kept and its bootstrap
        16-84% interval), ``residual`` (mean of the per-field values) and
        ``seconds_per_megapixel``.
    """
    n = len(results)
    names = list(results[0]['curves'])
    curves = {name: {key: np.sum([r['curves'][name][key] for r in results], axis=0).tolist()
                     for key in ('true_positives', 'false_positives')} for name in names}
    tp_at = {str(b): {name: true_positives_at(curves[name], b * n) for name in names}
             for b in FP_BUDGETS_PER_FIELD}
    flux = {}
    for name in results[0]['flux']:
        ratio = np.concatenate([r['flux'][name]['ratio'] for r in results])
        snr = np.concatenate([r['flux'][name]['snr'] for r in results])
        bins = {}
        for low, high in zip(SNR_BINS[:-1], SNR_BINS[1:]):
            inside = (snr >= low) & (snr < high)
            bins[f'{low}-{high}'] = (float(np.median(ratio[inside])) if inside.any()
                                     else None, int(inside.sum()))
        bright = _photometry_summary(ratio, snr) or {}
        flux[name] = {
            'n_snr_above_20': bright.get('n', 0),
            'median_ratio_snr_above_20': bright.get('median_ratio'),
            'median_abs_deviation_snr_above_20': bright.get('median_abs_deviation'),
            'median_abs_deviation_interval': bright.get('median_abs_deviation_interval'),
            'median_ratio_by_snr': bins}
    extended = {}
    for name in results[0]['extended']:
        kept = np.concatenate([r['extended'][name] for r in results])
        extended[name] = {'n': int(kept.size),
                          'median_fraction_kept': float(np.median(kept)) if kept.size else None,
                          'median_fraction_kept_interval': _bootstrap_interval(kept, np.median)}
    megapixels = np.prod(results[0]['shape']) / 1e6
    return {
        'n_fields': n, 'n_true': int(sum(r['n_true'] for r in results)),
        'true_positives_at': tp_at, 'curves': curves, 'flux': flux, 'extended': extended,
        'residual': {name: {k: float(np.mean([r['residual'][name][k] for r in results]))
                            for k in ('mean', 'std')} for name in results[0]['residual']},
        'seconds_per_megapixel': {
            name: float(np.mean([r['seconds'][name] for r in results]) / megapixels)
            for name in results[0]['seconds']},
    }


def format_report(report):
    """
    The summary of `evaluate_conditions` as a printable text table.

    Returns
    -------
    text : str
    """
    lines = []
    settings = report['settings']
    lines.append(f"bgrem evaluate: model {settings['model']}, {settings['diffusion_steps']} "
                 f"steps, {settings['n_fields']} fields of {settings['shape']} per condition "
                 f"({settings['date']})")
    budget = str(FP_BUDGETS_PER_FIELD[1])
    for condition, summary in report['conditions'].items():
        tp = summary['true_positives_at'][budget]
        lines.append('')
        lines.append(f"[{condition}] {summary['n_true']} true sources; true positives at "
                     f"{budget} false positives per field:")
        reference = max((tp[m] for m in ('sep', 'sextractor') if m in tp
                         and np.isfinite(tp[m])), default=np.nan)
        for name, value in tp.items():
            gain = (value / reference - 1) * 100 if reference and np.isfinite(value) else np.nan
            lines.append(f'  {name:24s} {value:8.1f}   {gain:+6.1f}% vs best of sep/SExtractor')
        lines.append('  flux ratio (S/N > 20): median, median |ratio - 1| [16-84% '
                     'bootstrap], n; '
                     'residual mean, std (noise units); s/MPix')
        for name, f in summary['flux'].items():
            residual = summary['residual'].get(name)
            seconds = summary['seconds_per_megapixel'].get(name)
            cells = [f"{f['median_ratio_snr_above_20'] or np.nan:7.4f}",
                     f"{f['median_abs_deviation_snr_above_20'] or np.nan:7.4f}"
                     + _interval_text(f.get('median_abs_deviation_interval'), '{:.4f}'),
                     f"{f['n_snr_above_20']:5d}"]
            cells.append(f"{residual['mean']:+7.3f} {residual['std']:6.3f}" if residual
                         else ' ' * 14)
            cells.append(f'{seconds:7.2f}' if seconds is not None else '')
            lines.append(f'  {name:24s} ' + '  '.join(cells))
        kept = ', '.join(f"{name} {e['median_fraction_kept']:.3f}" + _interval_text(
            e.get('median_fraction_kept_interval')) for name, e in summary['extended'].items()
            if e['median_fraction_kept'] is not None)
        n_large = next(iter(summary['extended'].values()))['n']
        lines.append(f'  large galaxies ({n_large}): median flux fraction kept '
                     f'[16-84% bootstrap]: {kept or "-"}')
    return '\n'.join(lines)


def _interval_text(interval, form='{:.3f}'):
    if not interval:
        return ' ' * (2 * len(form.format(0.0)) + 3)
    return ' [' + form.format(interval[0]) + '-' + form.format(interval[1]) + ']'


def plot_report(report, folder):
    """
    Write the plots of a report: ``tp_vs_fp.png`` (one panel per
    condition) and ``flux_ratio.png`` (flux ratio against true S/N, all
    conditions together).

    Parameters
    ----------
    report : dict
        From `evaluate_conditions`.
    folder : path-like
        Where to write them.

    Returns
    -------
    paths : list of `pathlib.Path`
    """
    plt, folder = pyplot_for(folder)
    conditions = report['conditions']
    columns = min(3, len(conditions))
    rows = int(np.ceil(len(conditions) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for ax, (condition, summary) in zip(axes.ravel(), conditions.items()):
        plot_detection_curves(ax, summary['curves'], condition, summary['n_true'])
    for ax in axes.ravel()[len(conditions):]:
        ax.axis('off')
    axes.ravel()[0].legend(fontsize=7)
    paths = [save_figure(plt, fig, folder / 'tp_vs_fp.png')]

    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(next(iter(report['fields'].values()))[0]['flux'])
    edges = np.geomspace(3, 3000, 16)
    centres = np.sqrt(edges[1:] * edges[:-1])
    for name in names:
        ratio = np.concatenate([f['flux'][name]['ratio'] for fields in report['fields'].values()
                                for f in fields])
        snr = np.concatenate([f['flux'][name]['snr'] for fields in report['fields'].values()
                              for f in fields])
        medians = [np.median(ratio[(snr >= lo) & (snr < hi)]) if np.any(
            (snr >= lo) & (snr < hi)) else np.nan for lo, hi in zip(edges[:-1], edges[1:])]
        ax.plot(centres, medians, 'o-', ms=3, label=name)
    ax.axhline(1, color='k', lw=0.8)
    ax.set_xlim(edges[0], edges[-1])  # also when no source was matched (all medians NaN)
    ax.set_xscale('log')
    ax.set_ylim(0.5, 1.5)
    ax.set_xlabel('true S/N')
    ax.set_ylabel('median F_measured / F_true')
    ax.legend(fontsize=7)
    paths.append(save_figure(plt, fig, folder / 'flux_ratio.png'))
    return paths
