"""``bgrem evaluate``: bgrem against photutils, sep and SExtractor on simulated fields."""

__all__ = ['add_parser', 'run']


def add_parser(commands):
    """Add the ``evaluate`` subcommand to an argparse subparsers object."""
    from ..evaluation.conditions import FIELD_CONDITIONS

    parser = commands.add_parser(
        'evaluate', help='compare bgrem with other background subtractions on simulated fields',
        description='Simulate optical fields with truth under several conditions, subtract '
                    'the background with bgrem, photutils Background2D, sep and SExtractor '
                    '(when installed) and two controls (sep then a Gaussian of the seeing; '
                    'a running median 5 FWHM wide), run the same detector on each, and '
                    'report true vs false positives, flux ratios, extended-source flux, '
                    'residuals and speed.  Needs GalSim and matplotlib '
                    '(pip install "bgrem[train]").')
    parser.add_argument('-o', '--output', default='bgrem-evaluation',
                        help='folder for report.json and the PNG plots '
                             '(default: bgrem-evaluation)')
    parser.add_argument('--model', default='optical', help='model name or path (default: optical)')
    parser.add_argument('--steps', type=int, default=None,
                        help="diffusion steps (default: the model's)")
    parser.add_argument('--conditions', nargs='+', choices=sorted(FIELD_CONDITIONS),
                        default=None, help='field conditions (default: all)')
    parser.add_argument('--fields', type=int, default=8, help='fields per condition (default: 8)')
    parser.add_argument('--size', type=int, default=512,
                        help='side of the square fields in pixels (default: 512)')
    parser.add_argument('--methods', nargs='+', choices=('background2d', 'sep', 'sextractor'),
                        default=None, help='baselines (default: all installed)')
    parser.add_argument('--patches', type=int, default=600,
                        help='gamma-ray models: test patches per flavour (default: 600)')
    parser.add_argument('--workers', type=int, default=1,
                        help='optical models: evaluate fields in this many processes; the '
                             'report is the same but for the timings (default: 1)')
    parser.add_argument('--seed', type=int, default=None, help='seed of the first field')
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(run=run)


def run(options):
    """Run the evaluation and write its report."""
    from ..evaluation.suite import (EVALUATION_SEED, evaluate_conditions, format_report,
                                    plot_report)
    from ..model.registry import load_model

    model = load_model(options.model)
    if model.card.training.get('dataset', {}).get('kind') == 'gamma':
        return _run_gamma(options, model)
    if options.fields < 1 or options.size < 32 or options.workers < 1:
        raise ValueError('--fields and --workers must be at least 1 and --size at least 32')
    report = evaluate_conditions(
        model if options.workers == 1 else options.model,  # workers load it by name or path
        conditions=options.conditions, n_fields=options.fields,
        shape=(options.size, options.size), diffusion_steps=options.steps,
        methods=options.methods, workers=options.workers,
        seed=EVALUATION_SEED if options.seed is None else options.seed,
        progress_bar=not options.quiet)
    _write_report(options.output, 'report', report, format_report, plot_report)


def _run_gamma(options, model):
    """The gamma-ray evaluation (held-out patches, expected and Poisson counts)."""
    from ..evaluation.gamma import evaluate_gamma, format_gamma_report, plot_gamma_report

    if options.patches < 1:
        raise ValueError('--patches must be at least 1')
    kwargs = {} if options.seed is None else {'seed': options.seed}
    report = evaluate_gamma(model, n_patches=options.patches, diffusion_steps=options.steps,
                            progress_bar=not options.quiet, **kwargs)
    _write_report(options.output, 'gamma_report', report, format_gamma_report,
                  plot_gamma_report)


def _write_report(folder, stem, report, format_report, plot_report):
    """Write STEM.json, STEM.txt and the plots to ``folder``; print the table."""
    import json
    import pathlib

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f'{stem}.json').write_text(json.dumps(report, indent=1) + '\n')
    plots = plot_report(report, folder)
    text = format_report(report)
    (folder / f'{stem}.txt').write_text(text + '\n')
    print(text)
    print(f'\nwritten: {folder}/{stem}.json, {stem}.txt, '
          + ', '.join(path.name for path in plots))
