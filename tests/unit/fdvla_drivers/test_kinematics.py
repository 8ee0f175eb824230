"""UR5e kinematics: the generated MuJoCo model agrees with the analytical DH chain."""

import mujoco
import numpy as np
import pytest

from fdvla_drivers import ur5e_kinematics as kin
from fdvla_drivers.sim import ur5e_model as mdl
from fdvla_drivers.sim.cell import SimCell
from fdvla_drivers.sim.tasks import make_task


@pytest.fixture(scope="module")
def cell():
    return SimCell(make_task("button"), tcp_offset=0.1)


def test_zero_configuration_matches_published_ur5e_reach():
    # With all joints at zero the UR5e flange sits at x = a2 + a3, y = -(d4 + d6), z = d1 - d5.
    T = kin.forward(np.zeros(6))
    assert np.allclose(T[:3, 3], [-0.425 - 0.3922, -(0.1333 + 0.0996), 0.1625 - 0.0997], atol=1e-12)


def test_mujoco_sites_match_analytical_fk_at_random_joint_angles(cell):
    rng = np.random.default_rng(1)
    m, d = cell.model, cell.data
    for _ in range(200):
        q = rng.uniform(-np.pi, np.pi, 6)
        d.qpos[:6] = q
        mujoco.mj_kinematics(m, d)
        for site, offset in ((mdl.TOOL0_SITE, 0.0), (mdl.TCP_SITE, 0.1)):
            T_site = cell.site_pose(site)
            T_fk = kin.forward(q, offset)
            assert np.abs(T_site[:3, 3] - T_fk[:3, 3]).max() < 1e-6
            assert np.abs(T_site[:3, :3] - T_fk[:3, :3]).max() < 1e-6


def test_model_uses_published_link_masses(cell):
    masses = [cell.model.body(b).mass[0] for b in mdl.ARM_BODIES]
    assert np.allclose(masses, kin.UR5E_MASS)


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(2)
    for _ in range(5):
        q = rng.uniform(-np.pi, np.pi, 6)
        J, T0 = kin.jacobian(q, 0.1)
        eps = 1e-7
        Jn = np.column_stack([kin.pose_error(kin.forward(q + eps * e, 0.1), T0) / eps
                              for e in np.eye(6)])
        assert np.abs(J - Jn).max() < 1e-5


def test_ik_recovers_a_pose_reached_by_fk():
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = kin.UR5E_HOME_Q + rng.uniform(-0.4, 0.4, 6)
        target = kin.forward(q, 0.1)
        res = kin.inverse(target, kin.UR5E_HOME_Q, 0.1)
        assert res.converged
        assert np.abs(kin.forward(res.q, 0.1) - target).max() < 1e-6


def test_ik_reports_failure_for_an_unreachable_pose():
    target = np.eye(4)
    target[:3, 3] = [2.0, 0.0, 0.5]  # the UR5e reaches about 0.85 m
    res = kin.inverse(target, kin.UR5E_HOME_Q)
    assert not res.converged
    assert res.position_error > 0.5


def test_fast_quaternion_conversion_agrees_with_scipy():
    from scipy.spatial.transform import Rotation

    for r in Rotation.random(500, random_state=4):
        q = kin.matrix_to_quat_xyzw(r.as_matrix())
        ref = r.as_quat()
        assert min(np.abs(q - ref).max(), np.abs(q + ref).max()) < 1e-9


def test_tcp_offset_moves_along_tool_z():
    q = kin.UR5E_HOME_Q
    T0, T1 = kin.forward(q), kin.forward(q, 0.15)
    assert np.allclose(T1[:3, 3] - T0[:3, 3], 0.15 * T0[:3, 2])
    assert np.allclose(kin.tcp_pose(q, 0.15).as_matrix(), T1)
