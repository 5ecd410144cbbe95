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


def field_parser(description, *, condition='default', fields=24, size=512, steps=False):
    """
    An argument parser with ``--model``, ``--condition``, ``--fields``,
    ``--size``, ``--json`` and, with ``steps``, ``--steps``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--model', default='optical')
    if steps:
        parser.add_argument('--steps', type=int, default=None)
    parser.add_argument('--condition', default=condition)
    parser.add_argument('--fields', type=int, default=fields)
    parser.add_argument('--size', type=int, default=size)
    parser.add_argument('--json', default=None, help='also write the results here')
    return parser


def evaluation_fields(condition, n_fields, size):
    """
    The first ``n_fields`` fields of ``size`` x ``size`` pixels of one
    condition, with the seeds of ``bgrem evaluate``: yields
    `EvaluationField`.
    """
    from bgrem.evaluation import FIELD_CONDITIONS, condition_config
    from bgrem.evaluation.suite import EVALUATION_SEED, _isolated_point_sources, _truth_inside
    from bgrem.simulate import simulate_optical_field

    offset = 10000 * list(FIELD_CONDITIONS).index(condition)
    config = condition_config(condition, (size, size))
    for i in range(n_fields):
        field = simulate_optical_field(config, seed=EVALUATION_SEED + offset + i)
        data = field.observed.astype(float)
        fwhm = field.seeing_fwhm / field.config.pixel_scale
        truth = _truth_inside(field)
        yield EvaluationField(field, data, fwhm, truth,
                              _isolated_point_sources(truth, fwhm, data.shape),
                              max(2.5, 0.5 * fwhm))
