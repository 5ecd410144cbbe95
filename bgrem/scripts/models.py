"""``bgrem models``: list the shipped models."""

__all__ = ['add_parser', 'run']


def add_parser(commands):
    """Add the ``models`` subcommand to an argparse subparsers object."""
    parser = commands.add_parser('models', help='list the shipped models',
                                 description='List the models shipped with bgrem.')
    parser.set_defaults(run=run)


def run(options):
    """Print each shipped model with its description."""
    import importlib.resources

    from ..model.card import ModelCard
    from ..model.registry import available_models

    for name in available_models():
        with importlib.resources.as_file(
                importlib.resources.files('bgrem.model') / 'data' / f'{name}.json') as path:
            card = ModelCard.read(path)
        print(f'{name}: {card.description} (default {card.default_steps} steps)')
