"""
Training sets: simulated fields cut into normalised tiles, split by field
into train / validation / test and cached in an HDF5 file.

Each tile is stored as its source-only part ``y`` and its background-plus-
noise part ``x`` (so ``y + x`` is the observed tile), both after exactly the
pre-processing of inference: the field's median is subtracted and the field
is scaled by `~bgrem.model.normalization.estimate_normalization` of the
observed field.  Each tile then gets an extra random scale factor around 1,
so that the network learns to tolerate a mis-estimated normalisation.
"""

import dataclasses
import json

import numpy as np
from tqdm.auto import tqdm

from .._parallel import process_map
from ..model.normalization import (NORMALIZATION_METHODS, estimate_normalization,
                                   masked_median, poisson_normalization)

__all__ = ['TileDataset', 'normalize_field', 'cut_tiles', 'split_fields',
           'build_tile_dataset', 'build_gamma_dataset', 'load_tile_dataset', 'field_config',
           'SPLITS', 'GAMMA_NORMALIZATION', 'BROAD_OPTICAL_MIXTURE']

#: Pre-processing of the gamma-ray models: per-pixel Poisson normalisation.
GAMMA_NORMALIZATION = {'method': 'poisson', 'smoothing': 1.5, 'floor': 1.0,
                       'median': 'global'}

#: Names of the splits, in order.
SPLITS = ('train', 'validation', 'test')

#: Field ``i`` of a dataset with master seed ``seed`` is simulated with seed
#: ``seed * _FIELD_SEED_STRIDE + i``.
_FIELD_SEED_STRIDE = 100003

_BROAD_SKY = {'seeing_fwhm_range': (1.5, 5.0), 'sky_gradient_range': (0.0, 0.4),
              'structure_amplitude_range': (0.0, 0.08), 'structure_scale_range': (30.0, 600.0)}

#: Changes to the default `~bgrem.simulate.OpticalFieldConfig` that make the
#: broad optical training set (``bgrem simulate --broad``); fields cycle
#: through them.  One field in five is a default field; three have poorer
#: seeing (to 5"), sky gradients to 40 per cent across a field and sky
#: structure to 8 per cent of the sky on scales from 30", at the default, a
#: crowded (x5) and a sparse (/4) source density; the fifth has sky structure
#: of 2-8 per cent on 30-200" and three times the share of large galaxies,
#: so that the network sees large galaxies on skies as lumpy as they are.
#: (The shipped model's second stage used the first four entries only.)
BROAD_OPTICAL_MIXTURE = (
    {},
    dict(_BROAD_SKY),
    dict(_BROAD_SKY, star_density=60.0, galaxy_density=12.0),
    dict(_BROAD_SKY, star_density=3.0, galaxy_density=1.0),
    dict(_BROAD_SKY, structure_amplitude_range=(0.02, 0.08),
         structure_scale_range=(30.0, 200.0), large_galaxy_fraction=0.15),
)


def normalize_field(sources, background, mask=None, normalization=None):
    """
    Apply the inference pre-processing to a simulated field.

    Parameters
    ----------
    sources, background : `~numpy.ndarray`
        Noiseless source image and background-plus-noise image; their sum is
        the observed image.
    mask : `~numpy.ndarray` of bool, optional
        Pixels to leave out of the statistics (e.g. saturated).
    normalization : dict, optional
        The ``normalization`` of a model card: ``method`` is
        ``'truncated_std'`` (default: one factor, one over the noise std) or
        ``'poisson'`` (a factor per pixel for count maps, with ``smoothing``
        and ``floor``).

    Returns
    -------
    y, x : `~numpy.ndarray`
        Normalised float32 source and background images: ``(sources) * f``
        and ``(background - median) * f``, ``median`` and ``f`` being those
        that inference would compute from ``sources + background``.
    factor : float or `~numpy.ndarray`
        The normalisation factor ``f`` (a map for ``'poisson'``).
    """
    settings = dict(normalization or {})
    method = settings.get('method', 'truncated_std')
    if method not in NORMALIZATION_METHODS:
        raise ValueError(f'normalization method must be one of {NORMALIZATION_METHODS}, '
                         f'got {method!r}')
    observed = sources + background
    median = masked_median(observed, mask)
    if method == 'poisson':
        factor = poisson_normalization(observed, mask, smoothing=settings.get('smoothing', 1.5),
                                       floor=settings.get('floor', 1.0))
    else:
        factor = estimate_normalization(
            observed - median, mask,
            exclude_brightest=settings.get('exclude_brightest', 0.1),
            gaussian_correction=settings.get('gaussian_correction', True))
    y = (sources * factor).astype(np.float32)
    x = ((background - median) * factor).astype(np.float32)
    return y, x, factor


def cut_tiles(image, tile_size):
    """
    Cut an image into non-overlapping ``tile_size`` squares (the rest is dropped).

    Parameters
    ----------
    image : `~numpy.ndarray`
        2-D image.
    tile_size : int
        Tile side.

    Returns
    -------
    tiles : `~numpy.ndarray`
        Shape ``(n, tile_size, tile_size)``, row-major order.
    """
    ny, nx = (n // tile_size for n in image.shape)
    if ny == 0 or nx == 0:
        raise ValueError(f'image {image.shape} is smaller than a tile of {tile_size}')
    cropped = image[:ny * tile_size, :nx * tile_size]
    return (cropped.reshape(ny, tile_size, nx, tile_size)
            .swapaxes(1, 2).reshape(ny * nx, tile_size, tile_size))


def split_fields(n_fields, fractions=(0.8, 0.1, 0.1), seed=0):
    """
    Assign fields (not tiles) to the train, validation and test splits.

    Parameters
    ----------
    n_fields : int
        Number of fields.
    fractions : tuple of float, optional
        Fractions of train, validation and test; normalised to sum 1.
    seed : int, optional
        Random seed of the shuffle.

    Returns
    -------
    splits : dict
        ``{split name: sorted array of field indices}``; every split that has
        a non-zero fraction gets at least one field when ``n_fields >= 3``.
    """
    fractions = np.asarray(fractions, float)
    if fractions.shape != (3,) or np.any(fractions < 0) or fractions.sum() <= 0:
        raise ValueError('fractions must be three non-negative numbers')
    fractions = fractions / fractions.sum()
    order = np.random.default_rng(seed).permutation(n_fields)
    counts = np.floor(fractions * n_fields).astype(int)
    for i in np.argsort(-fractions):  # give the rounding remainder to the biggest splits
        if counts.sum() < n_fields:
            counts[i] += 1
    if n_fields >= 3:
        for i in range(3):
            if fractions[i] > 0 and counts[i] == 0:
                counts[np.argmax(counts)] -= 1
                counts[i] += 1
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {name: np.sort(order[bounds[i]:bounds[i + 1]]) for i, name in enumerate(SPLITS)}


@dataclasses.dataclass
class TileDataset:
    """
    One split of a tile dataset, held in memory.

    Attributes
    ----------
    sources : `~numpy.ndarray`
        Normalised source-only tiles ``y``, shape ``(n, size, size)``.
    background : `~numpy.ndarray`
        Normalised background-plus-noise tiles ``x``.
    field_seed : `~numpy.ndarray`
        Simulation seed of the field each tile comes from.
    attrs : dict
        Provenance of the dataset (simulator config, seeds, tile size).
    """

    sources: np.ndarray
    background: np.ndarray
    field_seed: np.ndarray
    attrs: dict

    def __len__(self):
        return len(self.sources)


def build_tile_dataset(path, n_fields, *, config=None, tile_size=256, seed=0,
                       fractions=(0.8, 0.1, 0.1), min_peak=3.0,
                       noise_scale_range=(0.8, 1.25), workers=1, progress_bar=True):
    """
    Simulate fields, cut them into normalised tiles and write an HDF5 file.

    Parameters
    ----------
    path : path-like
        The HDF5 file to write (replaced if it exists).
    n_fields : int
        Number of fields to simulate.
    config : `~bgrem.simulate.OpticalFieldConfig` or sequence of them, optional
        Simulator settings (field shape included); the default config.  With
        a sequence (a mixture, e.g. from `BROAD_OPTICAL_MIXTURE`) field ``i``
        uses ``config[i % len(config)]``; `field_config` finds a field's
        config again.
    tile_size : int, optional
        Side of the stored tiles.
    seed : int, optional
        Master seed: field ``i`` is simulated with seed ``seed * 100003 + i``.
    fractions : tuple of float, optional
        Train, validation and test fractions of the fields.
    min_peak : float, optional
        Tiles whose brightest source pixel is below this (in units of the
        noise) are dropped, as in BGRem.
    noise_scale_range : tuple of float, optional
        Each tile is multiplied by a log-uniform random factor in this range
        (``(1, 1)`` for none).
    workers : int, optional
        Simulate fields in this many processes; the file is the same for any
        number of workers.
    progress_bar : bool, optional
        Show progress.

    Returns
    -------
    counts : dict
        Number of tiles per split.
    """
    from ..simulate import OpticalFieldConfig

    config = OpticalFieldConfig() if config is None else config
    configs = [config] if isinstance(config, OpticalFieldConfig) else list(config)
    if not configs or not all(isinstance(c, OpticalFieldConfig) for c in configs):
        raise TypeError('config must be an OpticalFieldConfig or a non-empty sequence of them')
    splits = split_fields(n_fields, fractions, seed)
    rng = np.random.default_rng([seed, 1])
    field_split = {int(i): name for name, fields in splits.items() for i in fields}
    collected = {name: ([], [], []) for name in SPLITS}
    low, high = np.log(noise_scale_range)
    jobs = [(configs[index % len(configs)], seed * _FIELD_SEED_STRIDE + index, tile_size,
             min_peak) for index in range(n_fields)]
    with process_map(workers, chunksize=4) as mapper:
        tiles = mapper(_simulated_tiles, jobs)
        for index, (y_tiles, x_tiles) in tqdm(enumerate(tiles), total=n_fields,
                                              desc='simulating fields',
                                              disable=not progress_bar):
            scale = np.exp(rng.uniform(low, high, len(y_tiles))).astype(np.float32)
            target = collected[field_split[index]]
            target[0].append(y_tiles * scale[:, None, None])
            target[1].append(x_tiles * scale[:, None, None])
            target[2].append(np.full(len(y_tiles), jobs[index][1], np.int64))

    stored = [_config_dict(c) for c in configs]
    attrs = {'config': json.dumps(stored[0] if len(stored) == 1 else stored),
             'tile_size': tile_size,
             'seed': seed, 'n_fields': n_fields, 'min_peak': min_peak,
             'noise_scale_range': list(noise_scale_range),
             'split_fields': json.dumps({k: (seed * _FIELD_SEED_STRIDE + v).tolist()
                                         for k, v in splits.items()})}
    return _write_dataset(path, collected, attrs, tile_size)


def _simulated_tiles(job):
    """Simulate one field; its normalised tiles ``(y, x)`` that reach ``min_peak``."""
    from ..simulate import simulate_optical_field

    config, field_seed, tile_size, min_peak = job
    field = simulate_optical_field(config, seed=field_seed)
    y, x, _ = normalize_field(field.sources, field.background, field.saturated_mask)
    y_tiles, x_tiles = cut_tiles(y, tile_size), cut_tiles(x, tile_size)
    keep = y_tiles.max(axis=(1, 2)) >= min_peak
    return y_tiles[keep], x_tiles[keep]


def _write_dataset(path, collected, attrs, tile_size):
    import h5py

    counts = {}
    with h5py.File(path, 'w') as h5:
        h5.attrs.update(attrs)
        for name, (ys, xs, seeds) in collected.items():
            group = h5.create_group(name)
            empty = np.zeros((0, tile_size, tile_size), np.float32)
            group.create_dataset('sources', data=np.concatenate(ys) if ys else empty)
            group.create_dataset('background', data=np.concatenate(xs) if xs else empty)
            group.create_dataset('field_seed',
                                 data=np.concatenate(seeds) if seeds else np.zeros(0, int))
            counts[name] = len(group['sources'])
    return counts


def build_gamma_dataset(path, n_patches, *, config=None, sky_seeds=(1, 2, 3), seed=0,
                        fractions=(0.8, 0.1, 0.1), flavours=('expected', 'poisson'),
                        normalization=None, noise_scale_range=(0.9, 1.1), progress_bar=True):
    """
    Simulate gamma-ray patches and write them, normalised, to an HDF5 file.

    Unlike optical fields, all patches come from a few synthetic skies, so
    the splits use *different skies* (``sky_seeds`` for train, validation
    and test): no test patch overlaps the sky the network was trained on.

    Parameters
    ----------
    path : path-like
        The HDF5 file to write (replaced if it exists).
    n_patches : int
        Number of patches over all splits (divided by ``fractions``).
    config : `~bgrem.simulate.GammaSkyConfig`, optional
        Sky and patch settings; each patch is one tile.
    sky_seeds : tuple of int, optional
        Sky of the train, validation and test split.
    seed : int, optional
        Master seed of the patches.
    fractions : tuple of float, optional
        Fractions of the patches per split.
    flavours : tuple of str, optional
        Patch flavours, used in turn (``'expected'``, ``'poisson'``).
    normalization : dict, optional
        Pre-processing (model card ``normalization``); by default
        `GAMMA_NORMALIZATION`.
    noise_scale_range : tuple of float, optional
        Each patch is multiplied by a log-uniform random factor in this range.
    progress_bar : bool, optional
        Show progress.

    Returns
    -------
    counts : dict
        Number of patches per split.
    """
    from ..simulate import GammaSky, GammaSkyConfig

    config = GammaSkyConfig() if config is None else config
    normalization = dict(GAMMA_NORMALIZATION if normalization is None else normalization)
    if len(sky_seeds) != 3 or len(set(sky_seeds)) != 3:
        raise ValueError(f'sky_seeds must be three different seeds, got {sky_seeds!r}')
    sizes = np.floor(np.asarray(fractions) / np.sum(fractions) * n_patches).astype(int)
    sizes[0] = n_patches - sizes[1:].sum()
    rng = np.random.default_rng([seed, 2])
    low, high = np.log(noise_scale_range)
    collected = {name: ([], [], []) for name in SPLITS}
    split_seeds = {}
    total = tqdm(total=int(n_patches), desc='simulating patches', disable=not progress_bar)
    if config.shape[0] != config.shape[1] or config.shape[0] % 16:
        raise ValueError(f'patches must be square with a side that is a multiple of 16, '
                         f'got {config.shape}')
    for split, sky_seed, size in zip(SPLITS, sky_seeds, sizes):
        sky = GammaSky(config, sky_seed=sky_seed)
        seeds = (seed * _FIELD_SEED_STRIDE + SPLITS.index(split) * 10_000_000 + np.arange(size))
        split_seeds[split] = seeds.tolist()
        for i, patch_seed in enumerate(seeds):
            patch = sky.patch(seed=int(patch_seed), flavour=flavours[i % len(flavours)])
            y, x, _ = normalize_field(patch.sources.astype(float),
                                      patch.background.astype(float), None, normalization)
            scale = np.float32(np.exp(rng.uniform(low, high)))
            target = collected[split]
            target[0].append(y[None] * scale)
            target[1].append(x[None] * scale)
            target[2].append(np.array([patch_seed], np.int64))
            total.update()
    total.close()
    attrs = {'kind': 'gamma', 'config': json.dumps(_config_dict(config)),
             'tile_size': int(config.shape[0]), 'seed': seed, 'n_fields': int(n_patches),
             'sky_seeds': json.dumps(list(sky_seeds)), 'flavours': json.dumps(list(flavours)),
             'normalization': json.dumps(normalization),
             'noise_scale_range': list(noise_scale_range),
             'split_fields': json.dumps(split_seeds)}
    return _write_dataset(path, collected, attrs, int(config.shape[0]))


def load_tile_dataset(path, split):
    """
    Read one split of a dataset written by `build_tile_dataset`.

    Parameters
    ----------
    path : path-like
        The HDF5 file.
    split : {'train', 'validation', 'test'}
        Which split.

    Returns
    -------
    dataset : `TileDataset`
    """
    import h5py

    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    with h5py.File(path, 'r') as h5:
        group = h5[split]
        return TileDataset(group['sources'][...], group['background'][...],
                           group['field_seed'][...], dict(h5.attrs))


def field_config(attrs, field_seed):
    """
    The simulator configuration of one field of an optical tile dataset.

    Parameters
    ----------
    attrs : dict
        ``TileDataset.attrs`` (the HDF5 attributes) of a dataset written by
        `build_tile_dataset`.
    field_seed : int
        Simulation seed of the field (``TileDataset.field_seed`` or a seed
        of ``attrs['split_fields']``).

    Returns
    -------
    config : `~bgrem.simulate.OpticalFieldConfig`
    """
    from ..simulate import OpticalFieldConfig

    stored = json.loads(attrs['config'])
    if isinstance(stored, dict):
        return OpticalFieldConfig(**stored)
    index = int(field_seed) - int(attrs['seed']) * _FIELD_SEED_STRIDE
    if not 0 <= index < int(attrs['n_fields']):
        raise ValueError(f'field seed {field_seed} is not a field of this dataset')
    return OpticalFieldConfig(**stored[index % len(stored)])


def _config_dict(config):
    return {key: (list(value) if isinstance(value, tuple) else value)
            for key, value in dataclasses.asdict(config).items()}
