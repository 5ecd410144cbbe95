"""
Photometry of `bgrem.detect_sources` against the truth, option by option.

On simulated fields of one evaluation condition (the seeds of
``bgrem evaluate``), this script runs bgrem once per field and measures the
isolated, unsaturated point-like sources (the selection of the evaluation)
with several settings of `bgrem.detect_sources`:

* ``unclipped``: the default, Kron flux on the unclipped bgrem output;
* ``unclipped+apcorr``: the same with ``aperture_correction=True``;
* ``psf``: ``psf_flux`` of ``detect_sources(..., psf_model=...)`` with the
  field's true PSF (`bgrem.simulate.SimulatedField.psf_model`: Moffat and
  pixel), fitted on the data minus bgrem's smooth background;
* ``psf_on_unclipped``: the same fit on the unclipped (denoised) output, to
  show what the network does to star profiles;
* ``psf_pixel_centred_moffat``: ``psf`` with a Moffat of the true FWHM and
  beta sampled at pixel centres (no pixel response), to show what a PSF
  model that is slightly off costs;
* ``data``: Kron flux on the data minus bgrem's smooth background
  (``photometry_on='data'``: all the noise of the data, no model flux);
* ``true_sky``: Kron flux on the data minus the *true* noiseless sky, the
  floor that noise and the Kron aperture leave to any background method;
* ``true_sky+apcorr`` and ``true_sky+psf``: the same with the aperture
  correction and with the true PSF.

Detection thresholds are those of the evaluation (1 noise sigma on the
bgrem output, 3 on the noisy true-sky-subtracted data).  For sources with
true S/N > 20 it prints the median of ``F / F_true`` and
of ``abs(F / F_true - 1)`` (the issue's bar is 2%) and their number.

Usage::

    python benchmarks/compare_photometry_options.py --model optical \\
        --condition default --fields 24
"""

import json

import numpy as np
from _fields import evaluation_fields, field_parser


def main(args=None):
    options = field_parser(__doc__.split('\n\n')[0], steps=True).parse_args(args)

    from photutils.psf import MoffatPSF

    from bgrem.background import BGRemBackground
    from bgrem.evaluation import SubtractedImage
    from bgrem.evaluation.suite import (PHOTOMETRY_THRESHOLDS, _flux_ratios, _photometry_line,
                                        _photometry_summary, _true_sky_image)
    from bgrem.model.registry import load_model

    model = load_model(options.model)
    variants = ('unclipped', 'unclipped+apcorr', 'psf', 'psf_on_unclipped',
                'psf_pixel_centred_moffat', 'data', 'true_sky', 'true_sky+apcorr', 'true_sky+psf')
    ratios = {name: [] for name in variants}
    snrs = {name: [] for name in variants}
    for field, data, fwhm, truth, selected, radius in evaluation_fields(
            options.condition, options.fields, options.size):
        bkg = BGRemBackground(data, model, diffusion_steps=options.steps)
        # PSF fits are made on data - smooth_background; without its removed
        # component a SubtractedImage has that image equal to the unclipped one.
        denoised = SubtractedImage('denoised', bkg.cleaned, bkg.unclipped,
                                   bkg.smooth_background, bkg.background_rms)
        true_sky = _true_sky_image(field)
        beta = field.params['moffat_beta']
        moffat = MoffatPSF(beta=beta, alpha=fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1)))
        psf = {'psf_model': field.psf_model(), 'flux_columns': ('psf_flux',)}
        runs = {'unclipped': (bkg, {}),
                'unclipped+apcorr': (bkg, {'aperture_correction': True}),
                'psf': (bkg, psf),
                'psf_on_unclipped': (denoised, psf),
                'psf_pixel_centred_moffat': (bkg, dict(psf, psf_model=moffat)),
                'data': (bkg, {'photometry_on': 'data'}),
                'true_sky': (true_sky, {}),
                'true_sky+apcorr': (true_sky, {'aperture_correction': True}),
                'true_sky+psf': (true_sky, psf)}
        for name, (background, kwargs) in runs.items():
            threshold = PHOTOMETRY_THRESHOLDS['baseline' if name.startswith('true_sky')
                                              else 'bgrem']
            measured, = _flux_ratios(background, threshold, truth, selected, radius,
                                     **kwargs).values()
            ratios[name].append(measured['ratio'])
            snrs[name].append(measured['snr'])

    summary = {}
    print(f'{options.condition}: {options.fields} fields of {options.size}^2, model '
          f'{model.name}; S/N > 20: median F/F_true, median |F/F_true - 1| '
          '[16-84% bootstrap], n')
    for name in variants:
        summary[name] = _photometry_summary(np.concatenate(ratios[name]),
                                            np.concatenate(snrs[name]))
        print(_photometry_line(name, summary[name]))
    if options.json:
        with open(options.json, 'w') as stream:
            json.dump({'settings': vars(options), 'summary': summary}, stream, indent=1)


if __name__ == '__main__':
    main()
