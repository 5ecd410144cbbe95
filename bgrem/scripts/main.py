"""
Entry point of the ``bgrem`` command: ``bgrem remove``, ``bgrem detect``,
``bgrem evaluate``, ``bgrem demo``, ``bgrem models``, ``bgrem simulate`` and
``bgrem train``.

Heavy modules (TensorFlow) are imported only by the subcommands that need
them, so ``bgrem --help`` is instant.
"""

import argparse
import sys

__all__ = ['main']


def _build_parser():
    from .. import __version__
    from . import demo, detect, evaluate, models, remove, simulate, train

    parser = argparse.ArgumentParser(
        prog='bgrem', description='Remove the background (sky and noise) from astronomical '
                                  'images with a diffusion model.')
    parser.add_argument('--version', action='version', version=f'bgrem {__version__}')
    commands = parser.add_subparsers(title='commands', dest='command', required=True)
    for module in (remove, detect, evaluate, demo, models, simulate, train):
        module.add_parser(commands)
    return parser


def main(args=None):
    """
    Run the ``bgrem`` command line.

    Parameters
    ----------
    args : list of str, optional
        Arguments; by default ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 1 on an error (reported on one line of stderr), 2 for
        a usage error.
    """
    parser = _build_parser()
    options = parser.parse_args(args)
    try:
        options.run(options)
    except (FileNotFoundError, ValueError, TypeError, OSError, ImportError) as exc:
        print(f'bgrem {options.command}: error: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('bgrem: interrupted', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
