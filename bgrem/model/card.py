"""
Model cards: the JSON file that travels with every set of weights.

A card says how to rebuild the network (architecture), how to drive it
(schedule, default steps, tile sizes), how its input was prepared
(normalisation) and where it came from (training provenance, checksum).
"""

import dataclasses
import json
import pathlib

__all__ = ['ModelCard', 'FORMAT_VERSION']

#: Version of the card format written by this package.
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """
    Description of a trained (or untrained) BGRem model.

    Parameters
    ----------
    name : str
        Short name, e.g. ``'optical'``.
    weights_file : str
        File name of the ``.weights.h5`` file, relative to the card.
    architecture : dict
        Keyword arguments of `bgrem.model.network.build_network`.
    max_signal_rate : float
        Schedule parameter, see `bgrem.model.diffusion.noise_level`.
    default_steps : int
        Diffusion steps used when the user gives none.
    tile_size, keep_size : int
        Tile layout used at inference (see `bgrem.model.tiling.TileGrid`).
    normalization : dict
        How training data were normalised: ``method`` (``'truncated_std'``),
        ``exclude_brightest``, ``gaussian_correction`` and ``median``
        (``'global'`` or ``'tile'``).
    description : str
        Free text for people.
    training : dict
        Provenance: data, epochs, losses, date, backend, hardware.
    sha256 : str or None
        Checksum of the weights file; checked on loading when given.
    format_version : int
        Card format version.
    """

    name: str
    weights_file: str
    architecture: dict = dataclasses.field(default_factory=dict)
    max_signal_rate: float = 0.98
    default_steps: int = 6
    tile_size: int = 256
    keep_size: int = 200
    normalization: dict = dataclasses.field(default_factory=lambda: {
        'method': 'truncated_std', 'exclude_brightest': 0.1,
        'gaussian_correction': True, 'median': 'global'})
    description: str = ''
    training: dict = dataclasses.field(default_factory=dict)
    sha256: str = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.format_version > FORMAT_VERSION:
            raise ValueError(f'model card {self.name!r} has format version '
                             f'{self.format_version}; this bgrem reads up to {FORMAT_VERSION}: '
                             'upgrade bgrem')
        if self.default_steps < 1:
            raise ValueError(f'default_steps must be >= 1, got {self.default_steps}')
        if self.normalization.get('median', 'global') not in ('global', 'tile', 'plane'):
            raise ValueError("normalization['median'] must be 'global', 'tile' or 'plane'")

    @classmethod
    def read(cls, path):
        """
        Read a card from a JSON file.

        Raises
        ------
        ValueError
            If the file is not a valid card.
        """
        path = pathlib.Path(path)
        try:
            content = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f'{path} is not a valid JSON model card: {exc}') from None
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(content) - fields
        if not isinstance(content, dict) or 'name' not in content or unknown:
            raise ValueError(f'{path} is not a bgrem model card'
                             + (f' (unknown keys {sorted(unknown)})' if unknown else ''))
        try:
            return cls(**content)
        except TypeError as exc:
            raise ValueError(f'{path} is not a valid bgrem model card: {exc}') from None

    def write(self, path):
        """Write the card as indented JSON to ``path``."""
        pathlib.Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2) + '\n')

    def replace(self, **changes):
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)
