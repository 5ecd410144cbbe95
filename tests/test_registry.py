import json

import numpy as np
import pytest

from bgrem.model.card import ModelCard
from bgrem.model.registry import available_models, load_model, save_model


def test_load_by_card_and_by_weights(tiny_model_path):
    by_card = load_model(tiny_model_path)
    by_weights = load_model(str(tiny_model_path).replace('.json', '.weights.h5'))
    by_stem = load_model(str(tiny_model_path)[:-len('.json')])
    images = np.random.default_rng(0).normal(size=(2, 32, 32)).astype('f4')
    variances = np.ones(2, 'f4')
    reference = by_card.predict(images, variances)
    assert reference.shape == images.shape
    for other in (by_weights, by_stem):
        np.testing.assert_array_equal(other.predict(images, variances), reference)
    assert load_model(by_card) is by_card
    assert by_card.card.default_steps == 2
    assert 'tiny' in repr(by_card)


def test_saved_card_has_checksum(tiny_model_path):
    content = json.loads(tiny_model_path.read_text())
    assert len(content['sha256']) == 64
    assert content['weights_file'] == 'tiny.weights.h5'


def test_round_trip_of_weights(tmp_path, tiny_model):
    path = save_model(tiny_model.network, tmp_path / 'copy.weights.h5', tiny_model.card)
    assert path == tmp_path / 'copy.json'
    copy = load_model(path)
    for a, b in zip(copy.network.get_weights(), tiny_model.network.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_missing_model():
    with pytest.raises(FileNotFoundError, match='not a shipped model'):
        load_model('no-such-model')


def test_missing_weights(tmp_path):
    ModelCard('x', 'x.weights.h5').write(tmp_path / 'x.json')
    with pytest.raises(FileNotFoundError, match='x.weights.h5'):
        load_model(tmp_path / 'x.json')


def test_damaged_weights(tmp_path, tiny_model_path):
    card = ModelCard.read(tiny_model_path)
    (tmp_path / card.weights_file).write_bytes(b'garbage')
    card.write(tmp_path / 'tiny.json')
    with pytest.raises(ValueError, match='checksum'):
        load_model(tmp_path / 'tiny.json')


def test_mismatched_architecture(tmp_path, tiny_model_path):
    card = ModelCard.read(tiny_model_path)
    weights = tiny_model_path.parent / card.weights_file
    (tmp_path / card.weights_file).write_bytes(weights.read_bytes())
    card.replace(architecture={**card.architecture, 'widths': [8, 16, 32]}).write(
        tmp_path / 'tiny.json')
    with pytest.raises(ValueError, match='do not fit the architecture'):
        load_model(tmp_path / 'tiny.json')


def test_bad_card(tmp_path):
    (tmp_path / 'bad.json').write_text('{"name": "bad", "weights_file": "b", "colour": 1}')
    with pytest.raises(ValueError, match='unknown keys'):
        load_model(tmp_path / 'bad.json')
    (tmp_path / 'bad.json').write_text('not json')
    with pytest.raises(ValueError, match='not a valid JSON'):
        load_model(tmp_path / 'bad.json')
    with pytest.raises(ValueError, match='format version'):
        ModelCard('new', 'w', format_version=99)


def test_available_models_are_loadable_cards():
    for name in available_models():
        assert load_model(name).card.name == name
