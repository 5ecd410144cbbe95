"""
Run the diffusion sampler over a whole image, tile batch by tile batch.
"""

import numpy as np
from tqdm.auto import tqdm

from .diffusion import MAX_SIGNAL_RATE, reverse_diffusion
from .tiling import TileGrid, iter_tile_batches, pad_for_tiling, place_tiles

__all__ = ['clean_image']


def clean_image(image, predict, n_steps, *, max_signal_rate=MAX_SIGNAL_RATE,
                tile_size=256, keep_size=200, batch_size=8, tile_median=False,
                progress_bar=False):
    """
    Remove the background from a normalised image of any shape.

    The image is cut into overlapping tiles (see `~bgrem.model.tiling`);
    each batch of tiles goes through `~bgrem.model.diffusion.reverse_diffusion`
    and only the tile centres are kept.  Only one batch of tiles is held in
    memory at a time.

    Parameters
    ----------
    image : `~numpy.ndarray`
        2-D image, median-subtracted and normalised, without non-finite
        values.
    predict : callable
        The network, ``predict(images, variances) -> background`` on batches
        of shape ``(batch, tile_size, tile_size)``.
    n_steps : int
        Diffusion steps.
    max_signal_rate : float, optional
        Schedule parameter of the model.
    tile_size, keep_size : int, optional
        Tile layout.
    batch_size : int, optional
        Tiles per network call.
    tile_median : bool, optional
        Subtract each tile's median before cleaning it.
    progress_bar : bool, optional
        Show a progress bar (tqdm) over the tiles.

    Returns
    -------
    clean : `~numpy.ndarray`
        The source-only image, unclipped, float32, same units as ``image``.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f'expected a 2-D image, got shape {image.shape}')
    if not np.all(np.isfinite(image)):
        raise ValueError('the image passed to clean_image must be finite everywhere')
    grid = TileGrid(image.shape, tile_size, keep_size)
    padded = pad_for_tiling(image, grid)
    clean = np.empty(grid.shape, dtype=np.float32)
    with tqdm(total=grid.count, unit='tile', desc='bgrem', disable=not progress_bar,
              leave=False) as bar:
        for indices, tiles in iter_tile_batches(padded, grid, batch_size):
            if tile_median:
                tiles -= np.median(tiles, axis=(1, 2), keepdims=True)
            place_tiles(clean, grid, indices,
                        reverse_diffusion(predict, tiles, n_steps, max_signal_rate))
            bar.update(len(indices))
    return clean
