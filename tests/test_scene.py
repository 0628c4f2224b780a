"""The Scene contract: optimizers by name, penalties, test data, and the bad input refused in one line."""
from __future__ import annotations

import numpy as np
import pytest

from visualizer import (L1, L2, SGD, Adam, Dense, Layout, LinearDecay, LossPanel, Network, Scene, SceneError,
                        train)


def _network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 4, "tanh", name="hidden", rng=rng), Dense(4, 3, name="output", rng=rng)])


def _scene(**changes) -> Scene:
    x = np.random.default_rng(0).normal(size=(20, 2))
    settings = dict(name="s", network=_network, x=x, y=np.arange(20) % 3, loss="softmax_ce", optimizer=SGD(0.1),
                    steps=3, layout=Layout([["loss"]], {"loss": LossPanel()}))
    return Scene(**{**settings, **changes})


def test_optimizers_are_given_as_objects_or_specs():
    assert isinstance(_scene(optimizer="adam:lr=0.01").optimizer, Adam)
    assert repr(_scene(optimizer="momentum:lr=0.1").optimizer) == "SGD(lr=0.1, momentum=0.9)"
    adam = Adam(0.02)
    assert _scene(optimizer=adam).optimizer is adam


def test_penalties_are_one_or_a_list():
    assert _scene().penalty == ()
    l2 = L2(1e-3)
    assert _scene(penalty=l2).penalty == (l2,)
    both = _scene(penalty=[l2, L1(1e-4)]).penalty
    assert [type(p).__name__ for p in both] == ["L2", "L1"]


def test_a_test_fraction_is_held_out_with_the_scenes_seed():
    full = _scene()
    scene = _scene(test_fraction=0.25, seed=4)
    x_test, y_test = scene.test
    assert (len(scene.x), len(x_test)) == (15, 5) and len(y_test) == 5
    # Every sample lands on exactly one side, and the same seed holds out the same samples.
    both = np.vstack([scene.x, x_test])
    assert sorted(map(tuple, both)) == sorted(map(tuple, full.x))
    np.testing.assert_array_equal(_scene(test_fraction=0.25, seed=4).test[0], x_test)
    assert not np.array_equal(_scene(test_fraction=0.25, seed=5).test[0], x_test)


def test_test_data_is_given_as_a_pair():
    scene = _scene(test=(np.zeros((4, 2)), [0, 1, 2, 0]))
    assert scene.test[0].shape == (4, 2) and scene.test[1].shape == (4, 1)


@pytest.mark.parametrize("changes, message", [
    (dict(optimizer="adamm"), "unknown optimizer 'adamm'; use one of sgd, momentum, nesterov, rmsprop, adam, adamw"),
    (dict(optimizer="adam:speed=2"), "unknown option 'speed' for optimizer 'adam'"),
    (dict(optimizer=0.1), "optimizer must be a name such as 'adam:lr=0.01'"),
    (dict(loss="cross_entropy"), "unknown loss 'cross_entropy'; use one of"),
    (dict(penalty="l2"), "penalty must be an L1 or L2 penalty or a list of them"),
    (dict(test_fraction=0.0), "test_fraction must be a number between 0 and 1 (exclusive), got 0.0"),
    (dict(test_fraction=1.5), "test_fraction must be a number between 0 and 1 (exclusive), got 1.5"),
    (dict(test_fraction=0.01), "leaves 0 for the test set"),
    (dict(test_fraction=0.2, test=(np.zeros((2, 2)), [0, 1])), "test data or a test_fraction, not both"),
    (dict(test=(np.zeros((2, 3)), [0, 1])), "the test data has 3 inputs per row, the training data 2"),
    (dict(test=np.zeros((2, 2))), "test must be a pair (x_test, y_test)"),
    (dict(network=_network(0)), "network must be a function of the seed that returns the network"),
    (dict(network=_network(0), layout=None), "network must be a function of the seed that returns the network"),
    (dict(network=lambda seed: "net", layout=None), "network(seed) must return a visualizer Network (of Dense layers), got str"),
])
def test_bad_settings_are_refused_in_one_line(changes, message):
    with pytest.raises(SceneError) as err:
        _scene(**changes)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("changes, message", [
    (dict(y=np.arange(20) % 4), "labels must be 0..2 for a network with 3 outputs, found [3]"),
    (dict(y=np.arange(20) % 3 - 0.5), "class labels must be whole numbers"),
    (dict(test=(np.zeros((2, 2)), [0, 5])), "test data: loss 'softmax_ce': labels must be 0..2"),
    (dict(loss="bce"), "loss 'bce' needs a network with 1 output (a score), got 3"),
    (dict(penalty=L2(0.1, params=["hidden.weight", "nope"])), "names nope, which the network does not have"),
    (dict(optimizer=SGD(lambda step: 0.1 if step < 2 else -1.0)),
     "learning rate from the schedule at step 2 must be a positive finite number, got -1.0"),
    (dict(optimizer=SGD(lambda step: float("nan"))), "learning rate from the schedule at step 0 must be"),
    (dict(optimizer=SGD(lambda step: 1 / (1 - step))), "schedule failed at step 1: division by zero"),
])
def test_what_does_not_suit_the_network_is_refused_before_training(changes, message):
    scene = _scene(**changes)
    with pytest.raises(SceneError) as err:
        train(scene)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("scene 's': ")


def test_a_schedule_is_checked_over_the_steps_actually_trained():
    scene = _scene(optimizer=SGD(LinearDecay(1.0, 0.1, 3)), steps=5)
    assert len(train(scene)) == 6
    bad = _scene(optimizer=SGD(lambda step: 1.0 if step < 4 else 0.0), steps=3)
    assert len(train(bad)) == 4  # steps 0..2 use the schedule: step 4 is never reached
    with pytest.raises(SceneError, match="at step 4"):
        train(bad, steps=5)
