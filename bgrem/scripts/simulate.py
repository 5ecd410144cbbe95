"""``bgrem simulate``: build a training set of simulated, normalised tiles."""

__all__ = ['add_parser', 'run']


def add_parser(commands):
    """Add the ``simulate`` subcommand to an argparse subparsers object."""
    parser = commands.add_parser(
        'simulate', help='simulate optical fields or gamma-ray patches as a training set',
        description='Simulate MeerLICHT-like optical fields with GalSim (or, with --gamma, '
                    'Fermi-LAT-like 1-2 GeV count-map patches), normalise them as '
                    'inference does, cut them into tiles, split them into '
                    'train/validation/test (by field; for gamma-ray patches by sky) and '
                    'write an HDF5 file.')
    parser.add_argument('-o', '--output', required=True, help='HDF5 file to write')
    parser.add_argument('--gamma', action='store_true',
                        help='gamma-ray patches (64x64, expected and Poisson counts in turn)')
    parser.add_argument('--broad', action='store_true',
                        help='optical fields from the broad mixture (poorer seeing, strong '
                             'gradients, sky structure, crowded and sparse fields; see '
                             'bgrem.training.BROAD_OPTICAL_MIXTURE)')
    parser.add_argument('--fields', type=int, default=1000,
                        help='number of fields (gamma-ray patches with --gamma)')
    parser.add_argument('--field-size', type=int, default=256,
                        help='side of each simulated field in pixels (default 256)')
    parser.add_argument('--tile-size', type=int, default=256, help='stored tile side')
    parser.add_argument('--seed', type=int, default=0, help='master random seed')
    parser.add_argument('--min-peak', type=float, default=3.0,
                        help='drop tiles whose brightest source pixel is below this many '
                             'noise sigma (default 3)')
    parser.add_argument('--workers', type=int, default=1,
                        help='simulate optical fields in this many processes (the file is '
                             'the same for any number)')
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(run=run)


def run(options):
    """Build the dataset and print the tile counts."""
    from ..simulate import OpticalFieldConfig
    from ..training.dataset import BROAD_OPTICAL_MIXTURE, build_gamma_dataset, build_tile_dataset

    if options.gamma and options.broad:
        raise ValueError('--broad is for optical fields; it cannot be used with --gamma')
    if options.gamma:
        counts = build_gamma_dataset(options.output, options.fields, seed=options.seed,
                                     progress_bar=not options.quiet)
        print(f'{options.output}: ' + ', '.join(f'{n} {k} patches' for k, n in counts.items()))
        return
    config = OpticalFieldConfig(shape=(options.field_size, options.field_size))
    if options.broad:
        config = [config.replace(**changes) for changes in BROAD_OPTICAL_MIXTURE]
    counts = build_tile_dataset(options.output, options.fields, config=config,
                                tile_size=options.tile_size, seed=options.seed,
                                min_peak=options.min_peak, workers=options.workers,
                                progress_bar=not options.quiet)
    print(f'{options.output}: ' + ', '.join(f'{n} {k} tiles' for k, n in counts.items()))
