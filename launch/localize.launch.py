"""Launch the geodistill_ros localizer node.

    ros2 launch geodistill_ros localize.launch.py params_file:=/path/to/localize.yaml namespace:=robot1 \
        image_topic:=/camera/image_raw gps_topic:=/gps/fix

Arguments: params_file (default: the package's config/localize.yaml), use_sim_time, namespace and the topic
remaps below. The node is started exactly as `localizer_node --ros-args --params-file <params_file> -r ...`.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

# node topic (relative) -> (launch argument, default remap target)
TOPIC_ARGUMENTS = {
    "image": ("image_topic", "/camera/image_raw"),
    "camera_info": ("camera_info_topic", "/camera/camera_info"),
    "gps/fix": ("gps_topic", "/gps/fix"),
    "imu": ("imu_topic", "/imu/data"),
    "odom": ("odom_topic", "/odom"),
    "pose": ("pose_topic", "pose"),
    "fix": ("fix_topic", "fix"),
    "datum": ("datum_topic", "datum"),
}


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("geodistill_ros"), "config", "localize.yaml")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML file with the localizer node's parameters"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (true when playing bags with --clock)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the localizer node"),
    ]
    remappings = []
    for topic, (argument, default) in TOPIC_ARGUMENTS.items():
        arguments.append(DeclareLaunchArgument(argument, default_value=default,
                                               description=f"topic the node's '{topic}' is remapped to"))
        remappings.append((topic, LaunchConfiguration(argument)))
    # the compressed stream follows the image topic (image_transport naming)
    remappings.append(("image/compressed", [LaunchConfiguration("image_topic"), "/compressed"]))

    localizer = Node(
        package="geodistill_ros",
        executable="localizer_node",
        name="geodistill_localizer",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)},
        ],
        remappings=remappings,
    )
    return LaunchDescription([*arguments, localizer])
