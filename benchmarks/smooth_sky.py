"""
How close `bgrem.BGRemBackground.smooth_background` comes to the true sky.

On simulated fields of one evaluation condition (the seeds of
``bgrem evaluate``), for each way of making the smooth sky this script
prints the RMS and the mean of the smooth sky minus the true noiseless sky
(in noise sigma, over all pixels of all fields) and, for the evaluation's
isolated unsaturated point-like sources with true S/N > 20, the median of
``F / F_true`` and of ``abs(F / F_true - 1)`` of PSF photometry with the
field's true PSF on the data minus that sky.  The ways are:

* ``shipped``: `~bgrem.BGRemBackground.smooth_background`;
* ``narrow``: its 8-pixel local quadratic fit alone, without the 16-pixel
  fit taken under large holes of a smooth sky (the smooth sky before
  2026-11-25);
* ``true_sky``: the true sky itself (photometry only: the floor).

Sources are detected on the bgrem output for every row, so the rows
measure the same stars.

Usage::

    python benchmarks/smooth_sky.py --condition poor_seeing --fields 24
"""

import json
import warnings

from _fields import evaluation_fields, field_parser


def main(args=None):
    options = field_parser(__doc__.split('\n\n')[0]).parse_args(args)

    import numpy as np
    from astropy.utils.exceptions import AstropyUserWarning

    from bgrem.background import BGRemBackground
    from bgrem.evaluation.methods import SubtractedImage
    from bgrem.evaluation.suite import (PHOTOMETRY_THRESHOLDS, _flux_ratios, _photometry_line,
                                        _photometry_summary)
    from bgrem.model.registry import load_model

    model = load_model(options.model)
    variants = ('shipped', 'narrow', 'true_sky')
    ratios = {name: [] for name in variants}
    snrs = {name: [] for name in variants}
    squares = {name: [] for name in variants[:2]}
    offsets = {name: [] for name in variants[:2]}
    print(f'{options.condition}: {options.fields} fields of {options.size}^2, '
          f'model {model.name}')
    for i, (field, data, fwhm, truth, selected, radius) in enumerate(
            evaluation_fields(options.condition, options.fields, options.size)):
        bkg = BGRemBackground(data, model, progress_bar=False)
        cleaned = np.asarray(bkg.cleaned, float)
        rms = np.asarray(bkg.background_rms, float)
        true_sky = field.sky.astype(float)
        psf = field.psf_model()
        skies = {'shipped': np.asarray(bkg.smooth_background, float),
                 'narrow': bkg._sky_leaving_out(wide=False),
                 'true_sky': true_sky}
        for name, sky in skies.items():
            if name in squares:
                error = (sky - true_sky) / rms
                squares[name].append(float(np.mean(error ** 2)))
                offsets[name].append(float(np.mean(error)))
            image = SubtractedImage(name, cleaned, data - sky, sky, rms)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', AstropyUserWarning)
                measured = _flux_ratios(image, PHOTOMETRY_THRESHOLDS['bgrem'], truth, selected,
                                        radius, flux_columns=('psf_flux',),
                                        psf_model=psf)['psf_flux']
            ratios[name] += measured['ratio']
            snrs[name] += measured['snr']
        print(f'  field {i}: FWHM {fwhm:.1f} pixels', flush=True)

    sky_error_rms = {name: float(np.sqrt(np.mean(squares[name]))) for name in squares}
    print('smooth sky minus true sky (noise sigma): RMS, mean')
    for name in squares:
        print(f'  {name:12s}  {sky_error_rms[name]:.3f}  {np.mean(offsets[name]):+.4f}')
    print('PSF fit (true PSF), S/N > 20: median F/F_true, median |F/F_true - 1| '
          '[16-84% bootstrap], n')
    summary = {name: _photometry_summary(ratios[name], snrs[name]) for name in variants}
    for name in variants:
        print(_photometry_line(name, summary[name], width=12))
    if options.json:
        with open(options.json, 'w') as stream:
            json.dump({'settings': vars(options), 'summary': summary,
                       'sky_error_rms': sky_error_rms}, stream, indent=1)


if __name__ == '__main__':
    main()
