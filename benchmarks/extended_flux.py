"""
Flux of large, low surface brightness galaxies kept by bgrem, on many fields.

``bgrem evaluate`` measures the fraction of the flux of the large galaxies
that the background removal keeps (within twice the half-light ellipse),
but a 512^2 field holds only about two of them, so its median over 24 fields
is uncertain by +-0.05 to 0.1.  This script measures only that, for bgrem
and photutils Background2D, on as many fields of one condition as asked
(the seeds of ``bgrem evaluate``, continued past its 24 fields), and prints
the median fraction with a bootstrap 16-84% interval (and the 16-84%
range of the galaxies themselves), overall and by the
*contrast* of each galaxy: its mean surface brightness within the ellipse
over the RMS of the true sky structure around it (the noiseless sky minus
its best plane, in a box of three times the ellipse's major axis).  Where
the contrast is well below 1 the galaxy is a bump of the sky's own size and
height, which no method can tell from the sky on one image.

``--footprints`` adds ``bgrem_footprints``: bgrem with the true ellipses of
the large galaxies as its ``source_mask``, where the sky is interpolated
(biharmonic) from bgrem's smooth sky around them instead of taken from the
network -- what knowing where the galaxies are (from a catalogue or a
deeper image) gives.

Usage::

    python benchmarks/extended_flux.py --condition structured_sky --fields 120 --footprints
"""

import json

import numpy as np
from _fields import evaluation_fields, field_parser

#: Edges of the contrast bins of the breakdown.
CONTRAST_BINS = (0.0, 0.3, 1.0, 3.0, np.inf)


def main(args=None):
    parser = field_parser(__doc__.split('\n\n')[0], condition='gradients', fields=120,
                          steps=True)
    parser.add_argument('--footprints', action='store_true',
                        help='also interpolate the sky under the true galaxy ellipses')
    options = parser.parse_args(args)

    from bgrem.background import BGRemBackground
    from bgrem.evaluation import subtract_background
    from bgrem.evaluation.suite import (_bootstrap_interval, _extended_flux,
                                        _large_galaxy_apertures)
    from bgrem.model.registry import load_model

    model = load_model(options.model)
    names = ['bgrem', 'background2d'] + (['bgrem_footprints'] if options.footprints else [])
    kept = {name: [] for name in names}
    contrast = []
    for field, data, _, truth, _, _ in evaluation_fields(options.condition, options.fields,
                                                         options.size):
        bkg = BGRemBackground(data, model, diffusion_steps=options.steps)
        images = {'bgrem': np.asarray(bkg.unclipped, float),
                  'background2d': subtract_background(data, 'background2d').unclipped}
        apertures = [aperture for _, aperture in _large_galaxy_apertures(truth, data.shape)]
        if options.footprints:
            known = BGRemBackground(data, model, diffusion_steps=options.steps,
                                    source_mask=_footprints(apertures, data.shape))
            images['bgrem_footprints'] = np.asarray(known.unclipped, float)
        sources = field.sources.astype(float)
        fractions = _extended_flux(images, truth, sources)
        for name in names:
            kept[name] += fractions[name]
        contrast += [_contrast(aperture, sources, field.sky.astype(float))
                     for aperture in apertures]

    print(f'{options.condition}: {options.fields} fields of {options.size}^2, model '
          f'{model.name}; median fraction of the flux of large galaxies kept '
          '[16-84% bootstrap], n, spread')
    summary = {name: _median_summary(values, _bootstrap_interval)
               for name, values in kept.items()}
    for name in names:
        print(_summary_line(name, summary[name]))
    contrast = np.array(contrast)
    summary['by_contrast'] = {}
    print('by contrast (mean surface brightness / RMS of the sky structure around)')
    for low, high in zip(CONTRAST_BINS[:-1], CONTRAST_BINS[1:]):
        chosen = (contrast >= low) & (contrast < high)
        label = f'{low:g}-{high:g}'
        summary['by_contrast'][label] = {
            name: _median_summary(list(np.asarray(kept[name])[chosen]), _bootstrap_interval)
            for name in names}
        print(f'  contrast {label}:')
        for name in names:
            print('  ' + _summary_line(name, summary['by_contrast'][label][name]))
    if options.json:
        with open(options.json, 'w') as stream:
            json.dump({'settings': vars(options), 'summary': summary, 'fractions': kept,
                       'contrast': contrast.tolist()}, stream, indent=1)


def _median_summary(values, bootstrap_interval):
    return {'median': float(np.median(values)) if values else None,
            'interval': bootstrap_interval(values, np.median),
            'spread': np.percentile(values, [16, 84]).tolist() if values else None,
            'n': len(values)}


def _summary_line(name, summary):
    interval = summary['interval']
    median_text = f"{summary['median']:.3f}" if summary['n'] else '-'
    interval_text = f'[{interval[0]:.3f}-{interval[1]:.3f}]' if interval else '[-]'
    spread_text = ('galaxies 16-84%: {:.2f} to {:.2f}'.format(*summary['spread'])
                   if summary['n'] else '')
    return f"  {name:18s} {median_text} {interval_text}  {summary['n']}  {spread_text}"


def _contrast(aperture, sources, sky):
    """Mean source surface brightness in the aperture / RMS of the local sky structure."""
    mask = aperture.to_mask(method='center').to_image(sources.shape).astype(bool)
    brightness = sources[mask].mean()
    (x, y), half = aperture.positions, 1.5 * aperture.a
    ny, nx = sky.shape
    y0, y1 = max(int(y - half), 0), min(int(y + half) + 1, ny)
    x0, x1 = max(int(x - half), 0), min(int(x + half) + 1, nx)
    patch = sky[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1]
    design = np.column_stack([np.ones(patch.size), xx.ravel(), yy.ravel()])
    coefficients, *_ = np.linalg.lstsq(design, patch.ravel(), rcond=None)
    structure = (patch.ravel() - design @ coefficients).std()
    return float(brightness / structure) if structure > 0 else np.inf


def _footprints(apertures, shape):
    """The pixels inside ``apertures`` (pixel centres), as a boolean image."""
    footprints = np.zeros(shape, bool)
    for aperture in apertures:
        footprints |= aperture.to_mask(method='center').to_image(shape).astype(bool)
    return footprints


if __name__ == '__main__':
    main()
