import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from fdvla_drivers import quat


@pytest.fixture
def rots():
    return Rotation.random(50, random_state=3)


def test_mul_conj_match_scipy(rots):
    for a, b in zip(rots[:-1], rots[1:]):
        got = Rotation.from_quat(quat.mul(a.as_quat(), quat.conj(b.as_quat())))
        assert (got.inv() * (a * b.inv())).magnitude() < 1e-9


def test_rotvec_round_trip_matches_scipy(rots):
    for r in rots:
        v = quat.to_rotvec(r.as_quat())
        np.testing.assert_allclose(v, r.as_rotvec(), atol=1e-9)
        back = Rotation.from_quat(quat.from_rotvec(v))
        assert (back.inv() * r).magnitude() < 1e-9


def test_slerp_matches_scipy(rots):
    for a, b in zip(rots[:-1], rots[1:]):
        s = Slerp([0, 1], Rotation.concatenate([a, b]))
        for u in (0.0, 0.3, 0.77, 1.0):
            got = Rotation.from_quat(quat.slerp(a.as_quat(), b.as_quat(), u))
            assert (got.inv() * s([u])[0]).magnitude() < 1e-7


def test_angle_between(rots):
    for a, b in zip(rots[:-1], rots[1:]):
        assert quat.angle_between(a.as_quat(), b.as_quat()) == pytest.approx(
            (a.inv() * b).magnitude(), abs=1e-6)
