"""
Cutting an image into overlapping tiles and stitching the tiles back.

An image of any shape is cut into ``tile_size`` x ``tile_size`` tiles whose
central ``keep_size`` x ``keep_size`` pixels tile the image exactly; only
those centres are kept, so the network's edge effects fall in the discarded
margins.  The image is first padded by reflection (no artificial edges for
the network to see), so images smaller than a tile work too.  Every output
pixel comes from exactly one tile: an identity network gives back the input
bit for bit.
"""

import dataclasses
import math

import numpy as np

__all__ = ['TileGrid', 'pad_for_tiling', 'iter_tile_batches', 'place_tiles']


@dataclasses.dataclass(frozen=True)
class TileGrid:
    """
    The layout of overlapping tiles over an image.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the image.
    tile_size : int, optional
        Side of the square tiles given to the network.
    keep_size : int, optional
        Side of the central part of each tile that is kept.  ``tile_size -
        keep_size`` must be even and non-negative.

    Examples
    --------
    >>> from bgrem.model.tiling import TileGrid
    >>> grid = TileGrid((450, 300))
    >>> grid.n_tiles, grid.margin, grid.padded_shape
    ((3, 2), 28, (656, 456))
    """

    shape: tuple
    tile_size: int = 256
    keep_size: int = 200

    def __post_init__(self):
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f'the image shape must be 2-D and non-empty, got {self.shape}')
        object.__setattr__(self, 'shape', shape)
        if not 0 < self.keep_size <= self.tile_size:
            raise ValueError('keep_size must be positive and at most tile_size, got '
                             f'keep_size={self.keep_size}, tile_size={self.tile_size}')
        if (self.tile_size - self.keep_size) % 2:
            raise ValueError('tile_size - keep_size must be even so the kept centre '
                             f'is centred, got {self.tile_size} - {self.keep_size}')

    @property
    def margin(self):
        """Pixels discarded on each side of a tile."""
        return (self.tile_size - self.keep_size) // 2

    @property
    def n_tiles(self):
        """Number of tiles along ``(y, x)``."""
        return tuple(math.ceil(n / self.keep_size) for n in self.shape)

    @property
    def count(self):
        """Total number of tiles."""
        ny, nx = self.n_tiles
        return ny * nx

    @property
    def padded_shape(self):
        """Shape of the padded image that the tiles are cut from."""
        return tuple(n * self.keep_size + 2 * self.margin for n in self.n_tiles)

    def tile_slices(self, index):
        """
        Where tile ``index`` (row-major) reads and writes.

        Returns
        -------
        source : tuple of slice
            The tile's pixels in the padded image.
        target : tuple of slice
            The pixels of the output image that the tile provides.
        centre : tuple of slice
            The part of the tile that goes to ``target``.
        """
        iy, ix = divmod(index, self.n_tiles[1])
        source, target, centre = [], [], []
        for i, n in zip((iy, ix), self.shape):
            start = i * self.keep_size
            stop = min(start + self.keep_size, n)
            source.append(slice(start, start + self.tile_size))
            target.append(slice(start, stop))
            centre.append(slice(self.margin, self.margin + stop - start))
        return tuple(source), tuple(target), tuple(centre)


def pad_for_tiling(image, grid):
    """
    Pad ``image`` by reflection to ``grid.padded_shape``.

    Parameters
    ----------
    image : `~numpy.ndarray`
        2-D image of shape ``grid.shape``; it must contain no NaN.
    grid : `TileGrid`
        The tile layout.

    Returns
    -------
    padded : `~numpy.ndarray`
        A new float32 array; ``padded[m:m+ny, m:m+nx]`` is ``image`` with
        ``m = grid.margin``.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape != grid.shape:
        raise ValueError(f'image shape {image.shape} does not match the grid {grid.shape}')
    pad = [(grid.margin, padded - n - grid.margin)
           for n, padded in zip(grid.shape, grid.padded_shape)]
    return np.pad(image, pad, mode='reflect' if min(grid.shape) > 1 else 'edge')


def iter_tile_batches(padded, grid, batch_size):
    """
    Yield the tiles of a padded image in batches.

    Only one batch is held at a time, so memory stays bounded for large
    images.

    Parameters
    ----------
    padded : `~numpy.ndarray`
        Output of `pad_for_tiling`.
    grid : `TileGrid`
        The tile layout.
    batch_size : int
        Number of tiles per batch (the last batch may be smaller).

    Yields
    ------
    indices : list of int
        The tile indices in the batch.
    tiles : `~numpy.ndarray`
        float32 array of shape ``(len(indices), tile_size, tile_size)``.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be at least 1, got {batch_size}')
    for first in range(0, grid.count, batch_size):
        indices = list(range(first, min(first + batch_size, grid.count)))
        tiles = np.empty((len(indices), grid.tile_size, grid.tile_size), np.float32)
        for k, index in enumerate(indices):
            tiles[k] = padded[grid.tile_slices(index)[0]]
        yield indices, tiles


def place_tiles(output, grid, indices, tiles):
    """
    Write the kept centres of ``tiles`` into ``output`` in place.

    Parameters
    ----------
    output : `~numpy.ndarray`
        Array of shape ``grid.shape`` to fill.
    grid : `TileGrid`
        The tile layout.
    indices : list of int
        Tile indices, as yielded by `iter_tile_batches`.
    tiles : `~numpy.ndarray`
        Processed tiles of shape ``(len(indices), tile_size, tile_size)``.
    """
    for index, tile in zip(indices, tiles):
        _, target, centre = grid.tile_slices(index)
        output[target] = tile[centre]
