"""
PSF photometry with a PSF that bgrem fits to the image (``psf_model='moffat'``).

`bgrem.detect_sources` can fit one pixel-integrated Moffat profile to the
bright isolated stars of an image and then use it for PSF photometry.  On
simulated fields of one evaluation condition (the seeds of
``bgrem evaluate``), this script compares the fitted FWHM and beta with the
field's true PSF and measures, for the evaluation's isolated unsaturated
point-like sources with true S/N > 20, the median of ``F / F_true`` and of
``abs(F / F_true - 1)`` for:

* ``psf_moffat``: ``psf_flux`` with the fitted Moffat (fields with fewer
  than 5 usable stars get no PSF and no row);
* ``psf_true``: ``psf_flux`` with the true PSF
  (`bgrem.simulate.SimulatedField.psf_model`);
* ``psf_moffat_apcorr``: ``psf_moffat`` scaled by the median ratio of the
  flux within 4 FWHM (on the data minus the smooth background) to
  ``psf_flux`` of the bright isolated stars, the aperture correction of
  classical PSF photometry (`bgrem.detect_sources` does not offer it for
  PSF fluxes: see the evaluation page);
* ``kron``: the default Kron ``flux``;
* ``psf_true_truesky``: ``psf_flux`` with the true PSF on the data minus the
  *true* noiseless sky, the floor that a perfect background would reach.

A field of 512^2 pixels holds 0-10 usable stars; whole frames hold tens.
``--psf-profile kolmogorov`` and ``--psf-ellipticity MAX`` simulate PSFs
that are not round Moffats, to see what the Moffat fit costs on them.

Usage::

    python benchmarks/psf_estimation.py --condition default --fields 3 --size 2048
    python benchmarks/psf_estimation.py --fields 3 --size 2048 --psf-profile kolmogorov \
        --psf-ellipticity 0.15
"""

import json
import time
import warnings

from _fields import evaluation_fields, field_parser, simulator_base


def main(args=None):
    options = field_parser(__doc__.split('\n\n')[0], fields=3, size=2048,
                           psf=True).parse_args(args)

    from astropy.utils.exceptions import AstropyUserWarning

    from bgrem.background import BGRemBackground
    from bgrem.detection import detect_sources
    from bgrem.evaluation.suite import (PHOTOMETRY_THRESHOLDS, _catalog_flux_ratios,
                                        _flux_ratios, _photometry_line,
                                        _photometry_summary, _true_sky_image)
    from bgrem.model.registry import load_model

    model = load_model(options.model)
    variants = ('psf_moffat', 'psf_moffat_apcorr', 'psf_true', 'kron', 'psf_true_truesky')
    ratios = {name: [] for name in variants}
    snrs = {name: [] for name in variants}
    fits = []
    base = simulator_base(options)
    print(f'{options.condition}: {options.fields} fields of {options.size}^2, model {model.name}'
          + ('' if base is None else f', PSF {base.psf_profile}, ellipticity '
             f'{base.psf_ellipticity_range[0]:g}-{base.psf_ellipticity_range[1]:g}'))
    for i, (field, data, fwhm, truth, selected, radius) in enumerate(
            evaluation_fields(options.condition, options.fields, options.size, base)):
        bkg = BGRemBackground(data, model, progress_bar=False)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', AstropyUserWarning)  # too few stars: reported
            catalog = detect_sources(None, bkg, threshold=PHOTOMETRY_THRESHOLDS['bgrem'],
                                     psf_model='moffat').catalog
        seconds = time.perf_counter() - start
        fit = dict(catalog.meta['psf_fit'], true_fwhm=fwhm,
                   true_beta=float(field.params['moffat_beta']),
                   true_ellipticity=float(field.params['psf_ellipticity']), seconds=seconds)
        fits.append(fit)
        fitted = 'alpha' in fit
        print(f"  field {i}: {fit['n_stars']} stars; " + (
            f"FWHM {fit['fwhm']:.3f} (true {fwhm:.3f}), beta {fit['beta']:.2f} ("
            + (f"true {fit['true_beta']:.2f}" if field.config.psf_profile == 'moffat'
               else f'true PSF {field.config.psf_profile}')
            + f"), ellipticity {fit['ellipticity']:.2f} (true {fit['true_ellipticity']:.2f})"
            + (f", Gaussian core {fit['core_fraction']:.2f} of the flux"
               if fit['gaussian_core'] else ', no core')
            + f"; detection + fit + photometry {seconds:.1f} s"
            if fitted else 'no PSF fitted'), flush=True)
        true_psf = field.psf_model()
        runs = {'psf_true': (bkg, {'psf_model': true_psf}, 'psf_flux'),
                'kron': (bkg, {}, 'flux'),
                'psf_true_truesky': (_true_sky_image(field), {'psf_model': true_psf}, 'psf_flux')}
        for name, (image, kwargs, column) in runs.items():
            threshold = PHOTOMETRY_THRESHOLDS['baseline' if image is not bkg else 'bgrem']
            measured = _flux_ratios(image, threshold, truth, selected, radius,
                                    flux_columns=(column,), **kwargs)[column]
            ratios[name] += measured['ratio']
            snrs[name] += measured['snr']
        if fitted:
            fit['psf_aperture_correction'] = add_aperture_corrected_psf_flux(catalog, bkg)
            measured = _catalog_flux_ratios(catalog, truth, selected, radius,
                                            ('psf_flux', 'psf_flux_apcorr'))
            for name, column in (('psf_moffat', 'psf_flux'),
                                 ('psf_moffat_apcorr', 'psf_flux_apcorr')):
                ratios[name] += measured[column]['ratio']
                snrs[name] += measured[column]['snr']
            print(f"    PSF aperture correction {fit['psf_aperture_correction']:.4f}", flush=True)

    print('S/N > 20: median F/F_true, median |F/F_true - 1| [16-84% bootstrap], n')
    summary = {name: _photometry_summary(ratios[name], snrs[name]) for name in variants}
    for name in variants:
        print(_photometry_line(name, summary[name], width=17))
    if options.json:
        with open(options.json, 'w') as stream:
            json.dump({'settings': vars(options), 'fits': fits, 'summary': summary}, stream,
                      indent=1)


def add_aperture_corrected_psf_flux(catalog, bkg):
    """
    Add ``psf_flux_apcorr`` and ``psf_flux_apcorr_err`` to ``catalog``: the
    PSF fluxes scaled by the median ratio of the flux within 4 FWHM (on the
    data minus the smooth background) to ``psf_flux`` of the bright
    isolated stars (the stars and circles of ``aperture_correction=True``),
    and return that factor.
    """
    from bgrem.detection.core import _aperture_correction, _Images
    from bgrem.evaluation.suite import _plain

    images = _Images.from_background(bkg, 'unclipped')
    factor = _aperture_correction(catalog, images.sky_subtracted, images.invalid,
                                  column='psf_flux')[0]
    for column in ('psf_flux', 'psf_flux_err'):
        catalog[column.replace('psf_flux', 'psf_flux_apcorr')] = factor * _plain(catalog[column])
    return factor


if __name__ == '__main__':
    main()
