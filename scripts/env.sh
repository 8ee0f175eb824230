# Environment every run and test uses. Sourced by the scripts; safe to source by hand.
# DDS discovery must stay on this machine (FastDDS multicasts on the NIC otherwise).
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
# Offscreen OpenGL for MuJoCo (Mesa EGL without a GPU, NVIDIA EGL with one).
export MUJOCO_GL=${MUJOCO_GL:-egl}
export PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
