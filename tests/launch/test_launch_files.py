"""Launch files and their parameter files.

launch / launch_ros / robot_localization cannot be installed here, so the launch files are checked statically
(they parse; every executable, file, launch argument, remapped topic and parameter name they use exists), and
the same params file is then loaded by the real node through ``--ros-args --params-file`` (ROS tests).
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import REPO

LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
NODE_NAME = "geodistill_localizer"
BUILTIN_PARAMETERS = {"use_sim_time"}
KNOWN_FOREIGN_EXECUTABLES = {("robot_localization", "ekf_node")}  # not installable here


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if fname == name:
                out.append(node)
    return out


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _const(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _console_scripts() -> dict[str, str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for call in _calls(tree, "setup"):
        entry = ast.literal_eval(_kw(call, "entry_points"))
        return dict(s.replace(" ", "").split("=", 1) for s in entry["console_scripts"])
    raise AssertionError("setup.py has no setup() call")


def _localize_params() -> dict:
    data = yaml.safe_load((REPO / "config" / "localize.yaml").read_text())
    assert list(data) == [f"/**/{NODE_NAME}"], "localize.yaml must configure the localizer node in any namespace"
    return data[f"/**/{NODE_NAME}"]["ros__parameters"]


def test_there_are_two_launch_files():
    assert {p.name for p in LAUNCH_FILES} == {"localize.launch.py", "localize_ekf.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_references_exist(path):
    from geodistill_ros.node import PARAMETER_NAMES

    tree = ast.parse(path.read_text(), filename=str(path))
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    scripts = _console_scripts()
    nodes = _calls(tree, "Node")
    assert nodes, "no Node action"
    for call in nodes:
        package, executable = _const(_kw(call, "package")), _const(_kw(call, "executable"))
        if package == "geodistill_ros":
            assert executable in scripts, f"{executable} is not a console script of setup.py"
            module, func = scripts[executable].split(":")
            assert hasattr(__import__(module, fromlist=[func]), func)
            assert _const(_kw(call, "name")) == NODE_NAME
            # parameter names given inline must be declared by the node
            for d in ast.walk(_kw(call, "parameters")):
                if isinstance(d, ast.Dict):
                    for key in d.keys:
                        assert _const(key) in PARAMETER_NAMES | BUILTIN_PARAMETERS, _const(key)
        else:
            assert (package, executable) in KNOWN_FOREIGN_EXECUTABLES
    # every file the launch file names exists in the package (and is installed by setup.py's data_files)
    setup_text = (REPO / "setup.py").read_text()
    for call in _calls(tree, "join"):
        parts = [_const(a) for a in call.args[1:]]
        if parts and all(parts) and parts[-1].endswith((".yaml", ".launch.py")):
            assert (REPO.joinpath(*parts)).is_file(), parts
            assert f'glob("{parts[0]}/*' in setup_text, f"setup.py does not install {parts[0]}/"
    # every LaunchConfiguration is a declared argument
    declared = {_const(c.args[0]) for c in _calls(tree, "DeclareLaunchArgument")}
    used = {_const(c.args[0]) for c in _calls(tree, "LaunchConfiguration") if _const(c.args[0])}
    # the topic arguments are declared in a loop from TOPIC_ARGUMENTS
    topic_args = _topic_arguments(tree)
    declared |= {arg for arg, _ in topic_args.values()}
    assert used <= declared, used - declared


def _topic_arguments(tree) -> dict:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "TOPIC_ARGUMENTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def test_localize_launch_arguments_and_remaps():
    tree = ast.parse((REPO / "launch" / "localize.launch.py").read_text())
    declared = {_const(c.args[0]) for c in _calls(tree, "DeclareLaunchArgument")}
    assert {"params_file", "use_sim_time", "namespace"} <= declared
    topics = _topic_arguments(tree)
    assert set(topics) == {"image", "camera_info", "gps/fix", "imu", "odom", "pose", "fix", "datum"}
    # the EKF launch passes only arguments localize.launch.py declares
    ekf_tree = ast.parse((REPO / "launch" / "localize_ekf.launch.py").read_text())
    include = _calls(ekf_tree, "IncludeLaunchDescription")[0]
    passed = {_const(k) for k in _kw(include, "launch_arguments").func.value.keys}
    assert passed <= declared | {a for a, _ in topics.values()}, passed


def test_localize_yaml_names_only_declared_parameters_each_documented():
    from geodistill_ros.node import PARAMETERS, validate_parameter

    params = _localize_params()
    declared = {p.name for p in PARAMETERS}
    assert set(params) <= declared, set(params) - declared
    assert declared - set(params) == {"datum"}  # datum is documented but commented out (first good fix)
    for name, value in params.items():
        assert validate_parameter(name, value) is None, name
    # documented line by line: every parameter line carries a comment
    for line in (REPO / "config" / "localize.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and ":" in stripped and not stripped.endswith(":"):
            assert "#" in stripped, f"undocumented line: {line!r}"


def test_ekf_yaml_fuses_our_pose_in_two_d_mode():
    ekf = yaml.safe_load((REPO / "config" / "ekf.yaml").read_text())
    tree = ast.parse((REPO / "launch" / "localize_ekf.launch.py").read_text())
    ekf_node = next(c for c in _calls(tree, "Node") if _const(_kw(c, "package")) == "robot_localization")
    p = ekf[_const(_kw(ekf_node, "name"))]["ros__parameters"]
    assert p["two_d_mode"] is True
    topics = _topic_arguments(ast.parse((REPO / "launch" / "localize.launch.py").read_text()))
    assert p["pose0"] == topics["pose"][1]  # the localizer's pose topic, same namespace
    pose0 = p["pose0_config"]
    assert len(pose0) == 15 and [i for i, v in enumerate(pose0) if v] == [0, 1, 5]  # x, y, yaw
    assert p["odom0"] == topics["odom"][1]
    assert len(p["odom0_config"]) == 15 and any(p["odom0_config"][6:12])
    ours = _localize_params()
    assert p["map_frame"] == p["world_frame"] == ours["map_frame"]
    assert p["base_link_frame"] == ours["base_frame"] and p["odom_frame"] == ours["odom_frame"]
    assert ours["publish_tf"] is False  # the EKF owns map->odom


# --- the params file through the real node -----------------------------------------------------------------
def _start_node(ros_env, *ros_args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "geodistill_ros.node", "--ros-args", "--params-file",
           str(REPO / "config" / "localize.yaml"), *ros_args]
    return subprocess.Popen(cmd, env=ros_env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.communicate(timeout=10)[0].decode(errors="replace")


def _launch_remap_args() -> list[str]:
    topics = _topic_arguments(ast.parse((REPO / "launch" / "localize.launch.py").read_text()))
    args = []
    for topic, (_, target) in topics.items():
        args += ["-r", f"{topic}:={target}"]
    return args + ["-r", f"image/compressed:={topics['image'][1]}/compressed"]


@pytest.mark.ros
def test_params_file_loads_into_the_real_node(rclpy_context, ros_env, tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter_client import AsyncParameterClient

    from tests.helpers.ros_wait import spin_until

    params = _localize_params()
    # a second file with the same node key proves the key matches the node in a namespace (the shipped values
    # equal the declared defaults, so they alone could not tell)
    changed = {"tile_source": "file:///srv/tiles/{z}/{x}/{y}.png", "min_confidence": 0.25, "yaw_hypotheses": 8}
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({f"/**/{NODE_NAME}": {"ros__parameters": changed}}))
    params.update(changed)
    proc = _start_node(ros_env, "--params-file", str(extra), "-r", "__ns:=/robot1", "-p", "datum:=[47.25, 8.5]",
                       "-p", "use_sim_time:=true", *_launch_remap_args())
    node = rclpy.create_node("launch_params_checker", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    try:
        client = AsyncParameterClient(node, f"/robot1/{NODE_NAME}")
        assert spin_until(executor, lambda: client.services_are_ready() or proc.poll() is not None, 60.0)
        assert proc.poll() is None, _stop(proc)
        names = sorted(params) + ["datum", "use_sim_time"]
        # the server's reply writer can match the checker's reply reader after the service looks ready, and a
        # reply sent before that is lost (reliable, volatile): ask again rather than wait on a lost reply
        for _attempt in range(6):
            future = client.get_parameters(names)
            if spin_until(executor, future.done, 5.0):
                break
        assert future.done(), "the node never answered get_parameters (6 requests, 5 s each)"
        from rclpy.parameter import parameter_value_to_python

        got = {n: parameter_value_to_python(v) for n, v in zip(names, future.result().values)}
        for name, value in params.items():
            if isinstance(value, float):
                assert math.isclose(float(got[name]), value), name
            else:
                assert got[name] == value, name
        assert list(got["datum"]) == [47.25, 8.5] and got["use_sim_time"] is True
        # the launch file's remaps land on the topics it names
        def topics():
            # the parameter services can be matched before the node's name reaches this graph cache
            # (ros_discovery_info comes separately): not known yet -> no topics yet, and spin_until retries
            from rclpy.node import NodeNameNonExistentError

            try:
                subs = node.get_subscriber_names_and_types_by_node(NODE_NAME, "/robot1")
                pubs = node.get_publisher_names_and_types_by_node(NODE_NAME, "/robot1")
            except NodeNameNonExistentError:
                return set(), set()
            return {n for n, _ in subs}, {n for n, _ in pubs}

        assert spin_until(executor, lambda: {"/camera/image_raw", "/gps/fix", "/camera/camera_info"}
                          <= topics()[0], 20.0), topics()
        assert {"/robot1/pose", "/robot1/fix", "/robot1/datum", "/diagnostics"} <= topics()[1]
        # an invalid update through the parameter service is refused with the reason
        from rclpy.parameter import Parameter

        fut = client.set_parameters([Parameter("backend", value="quantum")])
        assert spin_until(executor, fut.done, 20.0)
        result = fut.result().results[0]
        assert not result.successful and "backend" in result.reason
        assert proc.poll() is None
    finally:
        executor.shutdown()
        node.destroy_node()
        out = _stop(proc)
    assert "Traceback" not in out, out


@pytest.mark.ros
def test_invalid_params_file_value_stops_with_a_clear_message(ros_env, tmp_path):
    bad = yaml.safe_load((REPO / "config" / "localize.yaml").read_text())
    bad[f"/**/{NODE_NAME}"]["ros__parameters"]["backend"] = "quantum"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    cmd = [sys.executable, "-m", "geodistill_ros.node", "--ros-args", "--params-file", str(path)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=ros_env, cwd=str(REPO), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "backend" in proc.stderr and "quantum" in proc.stderr
    assert time.monotonic() - t0 < 60
