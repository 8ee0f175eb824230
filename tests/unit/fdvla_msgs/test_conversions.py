import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fdvla_msgs import conversions as conv
from fdvla_msgs import topics
from fdvla_msgs.types import UR_JOINT_NAMES, ActionChunk, CameraIntrinsics, Pose, Twist


def test_time_round_trip_keeps_nanoseconds():
    for t in (0.0, 1.5, 1_700_000_000.123456789, 0.999999999999):
        assert conv.from_ros_time(conv.to_ros_time(t)) == pytest.approx(t, abs=1e-9)
        d = conv.to_ros_duration(t)
        assert 0 <= d.nanosec < 1_000_000_000


def test_pose_round_trip():
    pose = Pose([0.1, -0.2, 0.3], Rotation.from_euler("xyz", [0.1, 0.2, 0.3]).as_quat())
    msg = conv.pose_to_msg(pose, 12.5)
    assert msg.header.frame_id == topics.BASE_FRAME
    stamp, back = conv.pose_from_msg(msg)
    assert stamp == 12.5
    np.testing.assert_allclose(back.as_vector(), pose.as_vector())


def test_chunk_round_trip_follows_contract():
    rng = np.random.default_rng(0)
    chunk = ActionChunk.from_arrays(100.25, np.arange(1, 51) * 0.02, rng.normal(size=(50, 3)),
                                    Rotation.random(50, random_state=1).as_quat())
    msg = conv.chunk_to_msg(chunk)
    assert conv.from_ros_time(msg.header.stamp) == 100.25  # stamp = observation time
    assert len(msg.points) == 50 and len(msg.points[0].transforms) == 1
    assert conv.from_ros_duration(msg.points[-1].time_from_start) == pytest.approx(1.0)
    back = conv.chunk_from_msg(msg)
    np.testing.assert_allclose(back.times, chunk.times, atol=1e-9)
    np.testing.assert_allclose(back.positions(), chunk.positions())
    np.testing.assert_allclose(np.abs(np.sum(back.quats() * chunk.quats(), axis=1)), 1.0)
    path = conv.chunk_to_path(chunk)
    assert len(path.poses) == 50
    assert conv.from_ros_time(path.poses[3].header.stamp) == pytest.approx(100.25 + 0.08)


def test_chunk_from_msg_rejects_contract_violations():
    chunk = ActionChunk.from_arrays(1.0, [0.1], [[0.4, 0, 0.3]], [[0, 0, 0, 1]])
    msg = conv.chunk_to_msg(chunk)
    msg.header.frame_id = "world"
    with pytest.raises(ValueError, match="frame"):
        conv.chunk_from_msg(msg)
    msg = conv.chunk_to_msg(chunk)
    msg.points[0].transforms = []
    with pytest.raises(ValueError, match="no transform"):
        conv.chunk_from_msg(msg)


def test_image_round_trip_is_exact_and_zero_copy_on_read():
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    msg = conv.image_to_msg(img, 3.0, "cam")
    assert (msg.encoding, msg.height, msg.width, msg.step) == ("rgb8", 48, 64, 192)
    back = conv.image_from_msg(msg)
    np.testing.assert_array_equal(back, img)
    assert not back.flags.owndata  # a view of the message buffer
    bgr = conv.image_to_msg(np.ascontiguousarray(img[..., ::-1]), 3.0, "cam")
    bgr.encoding = "bgr8"
    np.testing.assert_array_equal(conv.image_from_msg(bgr), img)
    with pytest.raises(ValueError):
        conv.image_to_msg(img.astype(np.float32), 0.0, "cam")


def test_joint_state_reorders_by_name():
    msg = conv.joint_state_to_msg(1.0, np.arange(6.0), np.arange(6.0) * 10)
    msg.name = list(reversed(msg.name))
    msg.position = list(reversed(msg.position))
    msg.velocity = list(reversed(msg.velocity))
    _, q, qd = conv.joint_state_from_msg(msg)
    np.testing.assert_array_equal(q, np.arange(6.0))
    np.testing.assert_array_equal(qd, np.arange(6.0) * 10)
    assert tuple(conv.joint_state_to_msg(0, q, qd).name) == UR_JOINT_NAMES


def test_wrench_twist_camera_info_force_token():
    stamp, w = conv.wrench_from_msg(conv.wrench_to_msg([1, 2, 3, 4, 5, 6], 2.0))
    assert stamp == 2.0 and w.tolist() == [1, 2, 3, 4, 5, 6]
    tw = conv.twist_from_msg(conv.twist_to_msg(Twist(1.0, [0.1, 0, 0], [0, 0, 0.2])))
    assert tw.linear[0] == pytest.approx(0.1) and tw.angular[2] == pytest.approx(0.2)
    k = CameraIntrinsics.from_fovy(640, 480, 60.0)
    assert conv.camera_info_from_msg(conv.camera_info_to_msg(k, 0.0, "c")) == k
    assert conv.camera_info_to_msg(k, 0.0, "c").distortion_model == "plumb_bob"
    k8 = CameraIntrinsics(1280, 720, 600.0, 600.0, 640.0, 360.0, tuple(range(8)))
    assert conv.camera_info_to_msg(k8, 0.0, "c").distortion_model == "rational_polynomial"
    tok = np.linspace(-1, 1, 7, dtype=np.float32)
    np.testing.assert_array_equal(conv.force_token_from_msg(conv.force_token_to_msg(tok)), tok)


def test_pose_ur_round_trip():
    pose = Pose.from_ur([0.3, 0.1, 0.2, 0.0, 3.14, 0.0])
    np.testing.assert_allclose(Pose.from_ur(pose.to_ur()).as_vector(), pose.as_vector(),
                               atol=1e-12)
    with pytest.raises(ValueError):
        Pose([0, 0, 0], [0, 0, 0, 0])


def test_depth_image_round_trip_32fc1_and_16uc1():
    depth = np.linspace(0.3, 2.5, 6 * 4, dtype=np.float32).reshape(6, 4)
    depth[0, 0] = np.nan  # no reading
    msg = conv.depth_to_msg(depth, 7.25, topics.camera_frame("kinect"))
    assert (msg.encoding, msg.height, msg.width, msg.step) == ("32FC1", 6, 4, 16)
    assert msg.header.frame_id == "kinect_color_optical_frame"
    assert conv.from_ros_time(msg.header.stamp) == 7.25
    back = conv.depth_from_msg(msg)
    assert back.shape == (6, 4) and back.dtype == np.float32
    np.testing.assert_array_equal(back, depth)  # NaN where NaN, bit for bit elsewhere
    # 16UC1 (millimetres, 0 = no reading), as the Azure Kinect and RealSense ROS drivers send.
    mm = np.array([[0, 500], [1250, 65535]], dtype="<u2")
    raw = type(msg)(height=2, width=2, encoding="16UC1", is_bigendian=0, step=4)
    raw.data = mm.tobytes()
    np.testing.assert_allclose(conv.depth_from_msg(raw), [[np.nan, 0.5], [1.25, 65.535]])
    with pytest.raises(ValueError, match="float32"):
        conv.depth_to_msg(depth.astype(np.float64), 0.0, "cam")
    with pytest.raises(ValueError, match="encoding"):
        conv.depth_from_msg(conv.image_to_msg(np.zeros((2, 2, 3), np.uint8), 0.0, "cam"))


def test_depth_topic_sits_beside_the_colour_topics():
    assert topics.camera_depth_topic("kinect") == "/kinect/depth_to_rgb/image_raw"
    assert topics.camera_image_topic("kinect") == "/kinect/color/image_raw"
