"""
How well two normalisations of gamma-ray count maps whiten the Poisson noise.

The diffusion model is trained with noise of unit standard deviation, so the
normalisation must bring the noise of every pixel to ~1.  On Poisson
patches of the synthetic sky (`bgrem.simulate.GammaSky`), with the noise
known exactly (``observed - sources - diffuse``), this script compares

* ``truncated_std``: one factor per patch, one over the standard deviation
  of the pixels without the brightest 10% (the optical/paper choice), and
* ``poisson``: a factor per pixel, one over the square root of the smoothed
  counts (`bgrem.model.normalization.poisson_normalization`),

by the standard deviation of the normalised noise over whole patches and
in the faintest and brightest quarter of the pixels of each patch.

Usage::

    python benchmarks/compare_gamma_normalizations.py --patches 300
"""

import argparse
import json

import numpy as np


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--patches', type=int, default=300)
    parser.add_argument('--sky-seed', type=int, default=3)
    parser.add_argument('--seed', type=int, default=123)
    parser.add_argument('--json', default=None)
    options = parser.parse_args(args)

    from bgrem.model.normalization import (estimate_normalization, masked_median,
                                           poisson_normalization)
    from bgrem.simulate import GammaSky

    sky = GammaSky(sky_seed=options.sky_seed)
    results = {'truncated_std': {'all': [], 'faint': [], 'bright': []},
               'poisson': {'all': [], 'faint': [], 'bright': []}}
    for i in range(options.patches):
        patch = sky.patch(seed=options.seed + i, flavour='poisson')
        observed = patch.observed.astype(float)
        noise = observed - patch.sources - patch.diffuse
        level = patch.sources + patch.diffuse
        faint = level <= np.quantile(level, 0.25)
        bright = level >= np.quantile(level, 0.75)
        factors = {
            'truncated_std': estimate_normalization(observed - masked_median(observed)),
            'poisson': poisson_normalization(observed)}
        for name, factor in factors.items():
            normalised = noise * factor
            results[name]['all'].append(float(np.std(normalised)))
            results[name]['faint'].append(float(np.std(normalised[faint])))
            results[name]['bright'].append(float(np.std(normalised[bright])))
    summary = {name: {part: {'median': float(np.median(v)),
                             'p10': float(np.percentile(v, 10)),
                             'p90': float(np.percentile(v, 90))}
                      for part, v in parts.items()} for name, parts in results.items()}
    print(f'{options.patches} Poisson patches of sky {options.sky_seed}: standard deviation '
          'of the normalised noise (median [10%, 90%] over patches)')
    for name, parts in summary.items():
        print(f'  {name:14s} ' + '   '.join(
            f"{part}: {s['median']:.2f} [{s['p10']:.2f}, {s['p90']:.2f}]"
            for part, s in parts.items()))
    if options.json:
        with open(options.json, 'w') as stream:
            json.dump(summary, stream, indent=1)


if __name__ == '__main__':
    main()
