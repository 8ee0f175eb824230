#!/usr/bin/env bash
# Container entry point: the ROS 2 underlay, the fdvla overlay, then the given command.
set -e
# setup.bash reads unset variables; it must not run under `set -u`.
source "/opt/ros/${ROS_DISTRO:-jazzy}/setup.bash"
source /opt/fdvla/install/setup.bash
exec "$@"
