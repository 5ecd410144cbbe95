"""``bgrem remove``: clean a FITS image."""

import argparse

__all__ = ['add_image_and_model_arguments', 'add_parser', 'read_image', 'read_source_mask', 'run']


def _normalization(text):
    if text == 'auto':
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a positive number, got {text!r}") from None
    return value


def _hdu(text):
    return int(text) if text.lstrip('-').isdigit() else text


def add_image_and_model_arguments(parser):
    """
    The options that choose the image of a FITS file (``--hdu``, ``--plane``)
    and the model that cleans it (``--model``, ``--steps``,
    ``--normalization``), shared by the subcommands that clean an image.
    """
    parser.add_argument('--hdu', type=_hdu, default=None,
                        help='HDU index or EXTNAME (default: the first image HDU)')
    parser.add_argument('--plane', type=int, default=None,
                        help='plane of a 3-D cube along its first axis')
    parser.add_argument('--model', default=None,
                        help='shipped model name or path of a model (default: optical)')
    parser.add_argument('--steps', type=int, default=None,
                        help="diffusion steps (default: the model's)")
    parser.add_argument('--normalization', type=_normalization, default='auto',
                        help="'auto' or the factor making the noise std 1 (default: auto)")
    parser.add_argument('--source-regions', default=None, metavar='REGIONS.reg',
                        help='region file (DS9, CRTF, FITS) of sources whose light must all '
                             'be kept, e.g. large galaxies from a catalogue: the sky under '
                             'them is interpolated from around them')


def read_image(options):
    """The image that ``--hdu`` and ``--plane`` pick, refused if it has no finite pixel."""
    import numpy as np

    from ..io import read_fits_image

    image = read_fits_image(options.input, hdu=options.hdu, plane=options.plane)
    if not np.any(np.isfinite(image.data)):
        raise ValueError(f'{options.input}: the image has no finite pixel')
    return image


def read_source_mask(options, image):
    """
    The pixels inside the regions of ``--source-regions`` (sky regions
    placed with the image's WCS), or None without that option.
    """
    if options.source_regions is None:
        return None
    from regions import Regions

    from ..background._input import regions_mask

    path = options.source_regions
    try:
        regions = Regions.read(path)
    except OSError:
        raise
    except Exception as error:  # the registry's and the parsers' own errors
        first_line = str(error).splitlines()[0]
        raise ValueError(f'{path}: not a region file regions can read ({first_line})') from None
    if len(regions) == 0:
        raise ValueError(f'{path}: no region found in the file')
    return regions_mask(regions, image.data.shape, image.wcs)


def add_parser(commands):
    """Add the ``remove`` subcommand to an argparse subparsers object."""
    parser = commands.add_parser(
        'remove', help='remove the background from a FITS image',
        description='Remove the background from an image in a FITS file and write the '
                    'cleaned image, with the input header and WCS, to a new FITS file.')
    parser.add_argument('input', help='input FITS file (.fits, .fits.gz, .fits.fz)')
    parser.add_argument('-o', '--output', required=True,
                        help='output FITS file (a name ending in .fz is tile-compressed)')
    add_image_and_model_arguments(parser)
    parser.add_argument('--median', choices=('global', 'tile', 'plane'), default=None,
                        help="level subtracted before the network: global median, median "
                             "per tile or a fitted sky plane (default: the model's)")
    parser.add_argument('--no-clip', action='store_true',
                        help='keep negative pixels in the cleaned image')
    parser.add_argument('--write-background', action='store_true',
                        help='add BACKGROUND and BACKGROUND_RMS image extensions')
    parser.add_argument('--batch-size', type=int, default=4, help='tiles per network call')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(run=run)


def run(options):
    """Clean one FITS image as the options say."""
    import pathlib

    from ..background import BGRemBackground
    from ..io import write_fits_image
    from ..model.registry import DEFAULT_MODEL

    output = pathlib.Path(options.output)
    if output.exists() and not options.overwrite:
        raise FileExistsError(f'{output} exists (use --overwrite)')
    image = read_image(options)
    bkg = BGRemBackground(image.data, options.model or DEFAULT_MODEL,
                          diffusion_steps=options.steps, normalization=options.normalization,
                          median=options.median, clip_negative=not options.no_clip,
                          source_mask=read_source_mask(options, image),
                          batch_size=options.batch_size, progress_bar=not options.quiet)
    header = image.header.copy()
    header.update(bkg.provenance())
    extensions = []
    if options.write_background:
        extensions = [('BACKGROUND', bkg.background), ('BACKGROUND_RMS', bkg.background_rms)]
    write_fits_image(output, bkg.cleaned, header, extensions, overwrite=options.overwrite)
    if not options.quiet:
        print(f'{output}: cleaned with model {bkg.model.name!r}, {bkg.diffusion_steps} steps, '
              f'normalisation {bkg.normalization:.4g}')
