"""`geodistill synth` bad input: clear one-line errors, exit code 2, nothing half-written."""

import json

import pytest
import yaml

from geodistill_ros.sim import World
from geodistill_ros.sim.baseline import raw_pixel_baseline
from geodistill_ros.sim.cli import main


@pytest.mark.parametrize("argv,needle", [
    (["world", "--style", "castle", "--out", "{tmp}/w"], "unknown style"),
    (["world", "--size", "0", "--out", "{tmp}/w"], "must be > 0"),
    (["world", "--size", "100", "--out", "/proc/nope/w"], "cannot write"),
    (["dataset", "--style", "rural", "--size", "100", "--n", "0", "--out", "{tmp}/d"], "must be > 0"),
    (["bag", "--size", "100", "--camera", "fisheye", "--frames", "2", "--out", "{tmp}/b"], "unknown camera"),
    (["dataset", "--world", "{tmp}", "--out", "{tmp}/d2"], "not a world folder"),
])
def test_bad_input_gives_clear_error(tmp_path, capsys, argv, needle):
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err and err[-1].startswith("error:") and needle in err[-1]
    assert not list(tmp_path.glob(".*tmp*"))


def test_existing_output_is_refused(tmp_path, capsys):
    (tmp_path / "w").mkdir()
    assert main(["world", "--size", "60", "--out", str(tmp_path / "w"), "--baseline", "0"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["world", "--size", "60", "--out", str(tmp_path / "w"), "--baseline", "0", "--no-tiles",
                 "--overwrite"]) == 0
    assert World.load(tmp_path / "w").size_m == 60


def test_raw_pixel_baseline_is_good_without_the_gap():
    w = World.generate(seed=7, style="downtown", size_m=200, gap=False)
    r = raw_pixel_baseline(w, n=8, seed=1)
    assert r["n"] == 8 and r["median_error_m"] < 1.0


def test_cli_makes_world_dataset_and_bag(tmp_path, capsys):
    wdir = tmp_path / "world"
    assert main(["world", "--seed", "3", "--style", "suburb", "--size", "140", "--out", str(wdir),
                 "--baseline", "0"]) == 0
    meta = json.loads((wdir / "world.json").read_text())
    assert meta["style"] == "suburb" and meta["seed"] == 3 and meta["tiles"]["max_zoom"] >= 20
    assert (wdir / "world.mbtiles").is_file() and (wdir / "overview.png").is_file()
    assert main(["dataset", "--world", str(wdir), "--n", "3", "--out", str(tmp_path / "ds"), "--pano-height", "32",
                 "--pano-width", "64", "--no-pinhole", "--workers", "1"]) == 0
    labels = (tmp_path / "ds" / "splits__corrected" / "Suburb3" / "pano_label_balanced__corrected.txt")
    assert len(labels.read_text().splitlines()) == 3
    assert main(["bag", "--world", str(wdir), "--frames", "2", "--out", str(tmp_path / "bag"), "--storage",
                 "sqlite3", "--compressed"]) == 0
    bag_meta = yaml.safe_load((tmp_path / "bag" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert bag_meta["storage_identifier"] == "sqlite3" and bag_meta["version"] == 8
    assert (tmp_path / "bag" / "overview.png").is_file()
    assert json.loads((tmp_path / "bag" / "geodistill_world.json").read_text())["world_dir"] == str(wdir.resolve())
    assert not list(tmp_path.glob(".*tmp*"))
