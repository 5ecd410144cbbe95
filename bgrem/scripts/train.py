"""``bgrem train``: train a model on a tile dataset."""

__all__ = ['add_parser', 'run']


def add_parser(commands):
    """Add the ``train`` subcommand to an argparse subparsers object."""
    parser = commands.add_parser(
        'train', help='train a model on a dataset from bgrem simulate',
        description='Train the BGRem network (L1 loss, AdamW, learning rate x0.95 per '
                    'epoch, early stopping) and save NAME.weights.h5 + NAME.json in the '
                    'output folder. An interrupted run resumes from its checkpoint.')
    parser.add_argument('dataset', help='HDF5 file written by bgrem simulate')
    parser.add_argument('-o', '--output-dir', required=True,
                        help='folder for checkpoints, history.csv and the model')
    parser.add_argument('--name', default='optical', help='model name (default optical)')
    parser.add_argument('--description', default='', help='model card description')
    parser.add_argument('--epochs', type=int, default=100)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--crop-size', type=int, default=None,
                        help='train on random crops of this size (multiple of 16)')
    parser.add_argument('--steps-per-epoch', type=int, default=None)
    parser.add_argument('--learning-rate', type=float, default=1e-3)
    parser.add_argument('--patience', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--time-limit', type=float, default=None, metavar='MINUTES',
                        help='stop after the first epoch that ends past this many minutes '
                             '(the best weights are kept)')
    parser.add_argument('--init-from', default=None, metavar='MODEL',
                        help='start from the weights of this model (a name or a card path; '
                             'fine-tuning) instead of random weights')
    parser.add_argument('--no-resume', action='store_true',
                        help='start afresh even if a checkpoint exists')
    parser.set_defaults(run=run)


def run(options):
    """Train and print where the model was saved."""
    from ..training.train import TrainingConfig, train_model

    config = TrainingConfig(epochs=options.epochs, batch_size=options.batch_size,
                            crop_size=options.crop_size,
                            steps_per_epoch=options.steps_per_epoch,
                            learning_rate=options.learning_rate, patience=options.patience,
                            seed=options.seed, time_limit=options.time_limit)
    card = train_model(options.dataset, options.output_dir, config=config, name=options.name,
                       description=options.description, resume=not options.no_resume,
                       init_from=options.init_from)
    print(f'model saved: {card}')
