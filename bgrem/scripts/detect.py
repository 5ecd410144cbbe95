"""``bgrem detect``: a source catalogue from a FITS image."""

from .remove import add_image_and_model_arguments, read_image, read_source_mask

__all__ = ['add_parser', 'read_psf', 'run']


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
    parser.add_argument('--highpass-width', type=int, default=None, metavar='PIXELS',
                        help='detect on the cleaned image minus its running median of this '
                             'width (about 5 seeing FWHM): more point sources under sky '
                             'structure and in crowded fields, galaxies larger than it cut '
                             'to their cores (default: none)')
    parser.add_argument('--method', choices=('photutils', 'sep'), default='photutils',
                        help='extraction and photometry library (default: photutils)')
    parser.add_argument('--photometry-on', choices=('unclipped', 'data'), default='unclipped',
                        help='image the aperture and Kron fluxes are measured on '
                             '(default: unclipped)')
    parser.add_argument('--aperture-radius', type=float, default=None,
                        help='aperture radius in pixels (default: 2 x median FWHM)')
    parser.add_argument('--aperture-correction', action='store_true',
                        help='scale the Kron fluxes of point-like sources to the flux within '
                             '4 PSF FWHM of the bright isolated stars')
    parser.add_argument('--psf', default=None, metavar='PSF.fits',
                        help='FITS image of the PSF (centred, any normalisation), or '
                             '"moffat" to fit a Moffat to the bright isolated stars: also '
                             'fit it at every source (psf_flux, psf_flux_err, psf_qfit '
                             'columns)')
    parser.add_argument('--psf-oversampling', type=int, default=1,
                        help='oversampling factor of the PSF image (default: 1)')
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
    psf_model = options.psf
    if psf_model is not None and psf_model != 'moffat':
        psf_model = read_psf(psf_model, options.psf_oversampling)
    catalog, segmentation, bkg = detect_sources(
        NDData(image.data, wcs=image.wcs), threshold=options.threshold,
        n_pixels=options.npixels, deblend=options.deblend,
        highpass_width=options.highpass_width, method=options.method,
        photometry_on=options.photometry_on, aperture_radius=options.aperture_radius,
        aperture_correction=options.aperture_correction, psf_model=psf_model,
        model=options.model or DEFAULT_MODEL, diffusion_steps=options.steps,
        normalization=options.normalization, source_mask=read_source_mask(options, image),
        progress_bar=not options.quiet)
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


def read_psf(path, oversampling=1):
    """
    A photutils `~photutils.psf.ImagePSF` from a FITS image of the PSF.

    The image (the first image HDU, read with `bgrem.io.read_fits_image`)
    is centred on the PSF and rescaled to sum to ``oversampling**2``,
    photutils' normalisation for a model whose fitted flux is the total
    flux.

    Raises
    ------
    ValueError
        If the image is not 2-D, has non-finite values or a sum <= 0.
    """
    import numpy as np
    from photutils.psf import ImagePSF

    from ..io import read_fits_image

    if int(oversampling) != oversampling or oversampling < 1:
        raise ValueError(f'--psf-oversampling must be a positive integer, got {oversampling}')
    try:
        data = np.array(read_fits_image(path).data, dtype=float)
    except ValueError as exc:  # e.g. a cube: --plane is about the image, not the PSF
        raise ValueError(f'the PSF must be a 2-D image: {exc}') from None
    total = data.sum()
    if not np.all(np.isfinite(data)) or not total > 0:
        raise ValueError(f'{path}: the PSF image must be finite with a positive sum')
    return ImagePSF(data * oversampling ** 2 / total, oversampling=int(oversampling))
