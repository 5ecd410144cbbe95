"""
Flux of large, low surface brightness galaxies kept by bgrem, on many fields.

``bgrem evaluate`` measures the fraction of the flux of the large galaxies
that the background removal keeps (within twice the half-light ellipse),
but a 512^2 field holds only about two of them, so its median over 24 fields
is uncertain by +-0.05 to 0.1.  This script measures only that, for bgrem
and photutils Background2D, on as many fields of one condition as asked
(the seeds of ``bgrem evaluate``, continued past its 24 fields), and prints
the median fraction with a bootstrap 16-84% interval.

Usage::

    python benchmarks/extended_flux.py --condition gradients --fields 120
"""

import argparse
import json

import numpy as np


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='optical')
    parser.add_argument('--steps', type=int, default=None)
    parser.add_argument('--condition', default='gradients')
    parser.add_argument('--fields', type=int, default=120)
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--json', default=None, help='also write the fractions here')
    options = parser.parse_args(args)

    from bgrem.background import BGRemBackground
    from bgrem.evaluation import FIELD_CONDITIONS, condition_config, subtract_background
    from bgrem.evaluation.suite import (EVALUATION_SEED, _bootstrap_interval, _extended_flux,
                                        _truth_inside)
    from bgrem.model.registry import load_model
    from bgrem.simulate import simulate_optical_field

    model = load_model(options.model)
    offset = 10000 * list(FIELD_CONDITIONS).index(options.condition)
    config = condition_config(options.condition, (options.size, options.size))
    kept = {'bgrem': [], 'background2d': []}
    for i in range(options.fields):
        field = simulate_optical_field(config, seed=EVALUATION_SEED + offset + i)
        data = field.observed.astype(float)
        images = {'bgrem': np.asarray(BGRemBackground(data, model,
                                                      diffusion_steps=options.steps).unclipped,
                                      float),
                  'background2d': subtract_background(data, 'background2d').unclipped}
        fractions = _extended_flux(images, _truth_inside(field), field.sources.astype(float))
        for name in kept:
            kept[name] += fractions[name]

    print(f'{options.condition}: {options.fields} fields of {options.size}^2, model '
          f'{model.name}; median fraction of the flux of large galaxies kept '
          '[16-84% bootstrap], n')
    summary = {}
    for name, values in kept.items():
        interval = _bootstrap_interval(values, np.median)
        summary[name] = {'median': float(np.median(values)) if values else None,
                         'interval': interval, 'n': len(values)}
        median_text = f"{summary[name]['median']:.3f}" if values else '-'
        interval_text = f'[{interval[0]:.3f}-{interval[1]:.3f}]' if interval else '[-]'
        print(f'  {name:14s} {median_text} {interval_text}  {len(values)}')
    if options.json:
        with open(options.json, 'w') as stream:
            json.dump({'settings': vars(options), 'summary': summary, 'fractions': kept},
                      stream, indent=1)


if __name__ == '__main__':
    main()
