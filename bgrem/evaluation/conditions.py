"""
Field conditions of the evaluation: how the simulated test fields differ
from the default optical field.

A gain in detection means little alone; it is reported per condition,
because a method that wins in sparse fields can lose in crowded ones or
under strong sky structure.
"""

__all__ = ['FIELD_CONDITIONS', 'condition_config']

#: Changes to `~bgrem.simulate.OpticalFieldConfig` per named condition.
#: ``default`` is the simulator's default field; the shipped optical model
#: was trained on it and then fine-tuned on a mixture that spans the other
#: conditions (`bgrem.training.BROAD_OPTICAL_MIXTURE`), with other seeds.
FIELD_CONDITIONS = {
    'default': {},
    'sparse': {'star_density': 3.0, 'galaxy_density': 1.0},
    'crowded': {'star_density': 60.0, 'galaxy_density': 12.0},
    'gradients': {'sky_gradient_range': (0.2, 0.4)},
    'poor_seeing': {'seeing_fwhm_range': (3.5, 5.0)},
    'structured_sky': {'structure_amplitude_range': (0.03, 0.08),
                       'structure_scale_range': (30.0, 120.0)},
}


def condition_config(condition, shape=(512, 512), base=None):
    """
    The simulator configuration of a named field condition.

    Parameters
    ----------
    condition : str
        A key of `FIELD_CONDITIONS`.
    shape : tuple of int, optional
        Field shape.
    base : `~bgrem.simulate.OpticalFieldConfig`, optional
        Configuration the condition changes; by default the simulator's.

    Returns
    -------
    config : `~bgrem.simulate.OpticalFieldConfig`

    Raises
    ------
    ValueError
        For an unknown condition.
    """
    from ..simulate import OpticalFieldConfig

    if condition not in FIELD_CONDITIONS:
        raise ValueError(f'unknown condition {condition!r}; choose from '
                         f'{sorted(FIELD_CONDITIONS)}')
    base = OpticalFieldConfig() if base is None else base
    return base.replace(shape=tuple(shape), **FIELD_CONDITIONS[condition])
