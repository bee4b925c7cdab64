"""The localizer plus robot_localization's EKF fusing its pose with wheel odometry.

    ros2 launch geodistill_ros localize_ekf.launch.py params_file:=... ekf_params_file:=...

The EKF (config/ekf.yaml) runs in the map frame: pose0 is the localizer's `pose` (x, y, yaw; two_d_mode),
odom0 the wheel odometry (velocities); it publishes map->odom, so the localizer's own publish_tf stays false.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("geodistill_ros")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "localize.yaml"),
                              description="YAML file with the localizer node's parameters"),
        DeclareLaunchArgument("ekf_params_file", default_value=os.path.join(share, "config", "ekf.yaml"),
                              description="robot_localization EKF parameters"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of both nodes"),
        DeclareLaunchArgument("odom_topic", default_value="/odom", description="wheel odometry (EKF odom0)"),
    ]
    localizer = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "localize.launch.py")),
        launch_arguments={
            "params_file": LaunchConfiguration("params_file"),
            "use_sim_time": LaunchConfiguration("use_sim_time"),
            "namespace": LaunchConfiguration("namespace"),
            "odom_topic": LaunchConfiguration("odom_topic"),
        }.items(),
    )
    ekf = Node(
        package="robot_localization",
        executable="ekf_node",
        name="ekf_filter_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("ekf_params_file"),
            {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)},
        ],
        remappings=[("odometry/filtered", "odometry/map"), ("/odom", LaunchConfiguration("odom_topic"))],
    )
    return LaunchDescription([*arguments, localizer, ekf])
