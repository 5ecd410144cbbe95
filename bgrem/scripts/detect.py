"""``bgrem detect``: a source catalogue from a FITS image."""

from .remove import add_image_and_model_arguments, read_image

__all__ = ['add_parser', 'run']


def add_parser(commands):
    """Add the ``detect`` subcommand to an argparse subparsers object."""
    parser = commands.add_parser(
        'detect', help='detect and measure sources in a FITS image',
        description='Remove the background with bgrem, detect sources on the cleaned image '
                    'and measure them on the unclipped image; write the catalogue (ECSV or '
                    'FITS), and optionally DS9 regions and the segmentation image.')
    parser.add_argument('input', help='input FITS file (.fits, .fits.gz, .fits.fz)')
    parser.add_argument('-o', '--output', required=True,
                        help='catalogue file (.ecsv or .fits)')
    parser.add_argument('--regions', default=None, help='DS9 region file to write')
    parser.add_argument('--segmentation', default=None,
                        help='FITS file for the segmentation image')
    parser.add_argument('--threshold', type=float, default=1.0,
                        help='detection threshold in units of the noise (default: 1.0)')
    parser.add_argument('--npixels', type=int, default=5,
                        help='minimum connected pixels (default: 5)')
    parser.add_argument('--deblend', action='store_true', help='deblend blended sources')
    parser.add_argument('--method', choices=('photutils', 'sep'), default='photutils',
                        help='extraction and photometry library (default: photutils)')
    parser.add_argument('--photometry-on', choices=('unclipped', 'data'), default='unclipped',
                        help='image the fluxes are measured on (default: unclipped)')
    parser.add_argument('--aperture-radius', type=float, default=None,
                        help='aperture radius in pixels (default: 2 x median FWHM)')
    add_image_and_model_arguments(parser)
    parser.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(run=run)


def run(options):
    """Detect sources in one FITS image as the options say."""
    import pathlib

    import numpy as np
    from astropy.io import fits
    from astropy.nddata import NDData

    from ..detection import detect_sources, write_catalog, write_regions
    from ..model.registry import DEFAULT_MODEL

    outputs = [options.output, options.regions, options.segmentation]
    for output in outputs:
        if output is not None and pathlib.Path(output).exists() and not options.overwrite:
            raise FileExistsError(f'{output} exists (use --overwrite)')
    image = read_image(options)
    catalog, segmentation, bkg = detect_sources(
        NDData(image.data, wcs=image.wcs), threshold=options.threshold,
        n_pixels=options.npixels, deblend=options.deblend, method=options.method,
        photometry_on=options.photometry_on, aperture_radius=options.aperture_radius,
        model=options.model or DEFAULT_MODEL, diffusion_steps=options.steps,
        normalization=options.normalization, progress_bar=not options.quiet)
    write_catalog(catalog, options.output, overwrite=options.overwrite)
    if options.regions:
        write_regions(catalog, options.regions, overwrite=options.overwrite)
    if options.segmentation:
        data = np.zeros(image.data.shape, np.int32) if segmentation is None else \
            segmentation.data.astype(np.int32)
        header = image.wcs.to_header() if image.wcs is not None else fits.Header()
        header.update(bkg.provenance())
        fits.PrimaryHDU(data, header).writeto(options.segmentation,
                                              overwrite=options.overwrite)
    if not options.quiet:
        print(f'{options.output}: {len(catalog)} sources (model {bkg.model.name!r}, '
              f'{bkg.diffusion_steps} steps, threshold {options.threshold} sigma)')
