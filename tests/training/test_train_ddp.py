"""DDP through torchrun: two CPU processes with the gloo backend train one tiny weak model."""

import json
import os
import subprocess
import sys

import pytest
import yaml


@pytest.mark.slow
def test_torchrun_two_cpu_processes(flat_root, tiny, tmp_path):
    cfg = tiny(flat_root, optim={"batch_size": 2, "steps": 3})
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(json.loads(json.dumps(cfg.to_dict()))))
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561",
           "-m", "training.cli_train", "weak", "--config", str(cfg_path), "--out", str(out), "--no-progress",
           "--threads", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=os.getcwd())
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["step"] == 3
    assert (out / "last.pt").is_file()
