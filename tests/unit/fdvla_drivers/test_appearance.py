"""Evaluation splits of what the sim cameras see (the paper's generalisation settings): drawn per
episode from the seed, the same in every camera, never in the physics model."""

import numpy as np
import pytest

from fdvla_drivers.camera.sim_camera import SimCamera
from fdvla_drivers.robot.sim_backend import SimRobotBackend
from fdvla_drivers.sim.appearance import Appearance, check_split


@pytest.fixture(scope="module")
def backend():
    b = SimRobotBackend("button", seed=3, realtime=False)
    b.connect()
    yield b
    b.close()


def _frame(backend, split, seed, camera="scene"):
    backend.reset(seed=seed)
    cam = SimCamera(backend, camera, 96, 72, appearance=split)
    cam.start()
    try:
        return cam.render().rgb.astype(float)
    finally:
        cam.stop()


def test_nominal_renders_the_backend_model_and_splits_a_copy(backend):
    assert Appearance(backend.model).model is backend.model
    look = Appearance(backend.model, "lighting")
    assert look.model is not backend.model
    before = backend.model.light_diffuse.copy()
    look.for_episode(5)
    assert not np.allclose(look.model.light_diffuse, before)
    assert np.allclose(backend.model.light_diffuse, before)  # the physics' model is untouched


@pytest.mark.parametrize("split, changed, kept", [
    ("background", "mat_rgba", "light_diffuse"), ("lighting", "light_diffuse", "mat_rgba")])
def test_each_split_varies_its_property_per_episode_and_repeats_for_a_seed(backend, split,
                                                                           changed, kept):
    a, b = Appearance(backend.model, split), Appearance(backend.model, split)
    first = {s: getattr(a.for_episode(s), changed).copy() for s in (10, 11, 12)}
    assert len({v.tobytes() for v in first.values()}) == 3  # differs by episode
    assert np.array_equal(getattr(b.for_episode(11), changed), first[11])  # same seed, same look
    assert np.array_equal(getattr(a.for_episode(11), kept), getattr(backend.model, kept))


def test_rendered_frames_change_with_the_split_and_cameras_agree(backend):
    nominal = _frame(backend, "nominal", 7)
    background = _frame(backend, "background", 7)
    lighting = _frame(backend, "lighting", 7)
    for other in (background, lighting):
        assert np.abs(other - nominal).mean() > 5.0  # grey levels of 255
    # The same episode's split, rendered again (another camera of the cell): the same image.
    assert np.array_equal(_frame(backend, "background", 7), background)
    assert not np.array_equal(_frame(backend, "background", 8), background)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown appearance split"):
        check_split("fog")
