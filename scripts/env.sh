# Environment for everything the project runs locally (sourced by scripts/setup.sh, the Makefile and CI).
# DDS stays on this machine; Fast DDS gets a shared-memory segment large enough for camera images.
_gd_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export FASTRTPS_DEFAULT_PROFILES_FILE="$_gd_root/config/fastdds_shm.xml"
export FASTDDS_DEFAULT_PROFILES_FILE="$_gd_root/config/fastdds_shm.xml"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
unset _gd_root
