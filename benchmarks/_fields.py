"""
Set-up shared by the benchmarks that measure bgrem on the simulated fields
of ``bgrem evaluate``: their command-line options and their fields, with
the sources the evaluation's photometry is measured on.
"""

import argparse
from collections import namedtuple

#: One evaluation field: the `~bgrem.simulate.SimulatedField`, its observed
#: image (float64), the seeing FWHM (pixels), the true sources inside the
#: image, which of them are isolated point-like sources (the photometry
#: targets) and the radius within which a detection matches a true source.
EvaluationField = namedtuple('EvaluationField',
                             'field data fwhm truth selected radius')


def field_parser(description, *, condition='default', fields=24, size=512, steps=False,
                 psf=False):
    """
    An argument parser with ``--model``, ``--condition``, ``--fields``,
    ``--size``, ``--json``, with ``steps``, ``--steps``, and with ``psf``,
    ``--psf-profile`` and ``--psf-ellipticity`` (see `simulator_base`).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--model', default='optical')
    if steps:
        parser.add_argument('--steps', type=int, default=None)
    parser.add_argument('--condition', default=condition)
    parser.add_argument('--fields', type=int, default=fields)
    parser.add_argument('--size', type=int, default=size)
    parser.add_argument('--json', default=None, help='also write the results here')
    if psf:
        parser.add_argument('--psf-profile', choices=('moffat', 'kolmogorov'),
                            default='moffat', help='radial profile of the simulated PSF')
        parser.add_argument('--psf-ellipticity', type=float, default=0.0, metavar='MAX',
                            help='PSF ellipticity drawn between 0 and MAX per field')
    return parser


def simulator_base(options):
    """
    The simulator configuration that ``--psf-profile`` and
    ``--psf-ellipticity`` ask for (None when they keep the defaults), for
    `evaluation_fields`.
    """
    profile = getattr(options, 'psf_profile', 'moffat')
    ellipticity = getattr(options, 'psf_ellipticity', 0.0)
    if profile == 'moffat' and ellipticity == 0:
        return None
    from bgrem.simulate import OpticalFieldConfig

    return OpticalFieldConfig(psf_profile=profile, psf_ellipticity_range=(0.0, ellipticity))


def evaluation_fields(condition, n_fields, size, base=None):
    """
    The first ``n_fields`` fields of ``size`` x ``size`` pixels of one
    condition, with the seeds of ``bgrem evaluate``: yields
    `EvaluationField`.  ``base`` is the simulator configuration the
    condition changes (by default the simulator's).
    """
    from bgrem.evaluation import FIELD_CONDITIONS, condition_config
    from bgrem.evaluation.suite import EVALUATION_SEED, _isolated_point_sources, _truth_inside
    from bgrem.simulate import simulate_optical_field

    offset = 10000 * list(FIELD_CONDITIONS).index(condition)
    config = condition_config(condition, (size, size), base=base)
    for i in range(n_fields):
        field = simulate_optical_field(config, seed=EVALUATION_SEED + offset + i)
        data = field.observed.astype(float)
        fwhm = field.seeing_fwhm / field.config.pixel_scale
        truth = _truth_inside(field)
        yield EvaluationField(field, data, fwhm, truth,
                              _isolated_point_sources(truth, fwhm, data.shape),
                              max(2.5, 0.5 * fwhm))
