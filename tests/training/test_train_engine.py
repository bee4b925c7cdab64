"""Tiny end-to-end runs: the weak loss falls, checkpoints resume, load_checkpoint gives the model API."""

import json

import torch

from training.datasets import NonOverlappingBatchSampler, build_dataset
from training.engine import build_stage, train
from training.models import load_checkpoint


def _fixed_batch(cfg, n=4):
    ds = build_dataset(cfg.data, cfg.model, "train", train=False)
    sampler = NonOverlappingBatchSampler(ds.sat_centers_m, ds.city_ids, n, ds.patch_width_m, seed=123)
    idx = next(iter(sampler))
    return {k: torch.stack([ds[i][k] for i in idx]) for k in ("ground", "ground_mask", "sat")}


def test_weak_training_lowers_loss_and_resumes(flat_root, tiny, tmp_path):
    cfg = tiny(flat_root)
    batch = _fixed_batch(cfg)
    torch.manual_seed(0)
    _, objective, _ = build_stage(cfg, "cpu")
    with torch.no_grad():
        before = float(objective(batch)[0])
    out = tmp_path / "run"
    summary = train(cfg, out, max_steps=20, progress=False)
    assert summary["step"] == 20
    bundle = load_checkpoint(out / "last.pt")
    loc = bundle["localizer"]
    objective.localizer.load_state_dict(loc.state_dict())
    objective.localizer.train()
    with torch.no_grad():
        after = float(objective(batch)[0])
    assert after < 0.8 * before, (before, after)
    # resume: continues from step 20 to 25 without starting over
    summary2 = train(cfg, out, max_steps=25, progress=False)
    assert summary2["step"] == 25
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["step"] == 25 and state["optimizer"] is not None and state["model_args"]["kind"] == "localizer"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 25
    # the export API
    sat = torch.rand(1, 3, 96, 96)
    feats = loc.encode_satellite(sat)
    assert [f.shape[-1] for f in feats] == [12, 24]
    res = loc.match(torch.rand(1, 3, 32, 64), torch.ones(1, 1, 32, 64), feats)
    assert res["logits"].shape == (1, 24, 24)
    torch.testing.assert_close(res["prob"].sum(), torch.tensor(1.0))
    assert bundle["meta"]["prob_stride_px"] == 4 and bundle["meta"]["prob_origin_px"] == 2.0


def test_distill_and_orientation_stages_run(flat_root, tiny, tmp_path):
    weak = tmp_path / "weak"
    train(tiny(flat_root), weak, max_steps=2, progress=False)
    for half_turn in (False, True):
        cfg = tiny(flat_root, "distill", run={"init_from": str(weak / "last.pt")},
                   distill={"ema_decay": 0.5, "teacher_half_turn": half_turn})
        s = train(cfg, tmp_path / f"distill{half_turn}", max_steps=3, progress=False)
        assert s["step"] == 3 and s["loss_last"] is not None
        state = torch.load(tmp_path / f"distill{half_turn}" / "last.pt", weights_only=False)
        assert "teacher_state_dict" in state and state["config"]["distill"]["teacher_half_turn"] is half_turn
    o = train(tiny(flat_root, "orientation"), tmp_path / "ori", max_steps=3, progress=False)
    assert o["step"] == 3
    ob = load_checkpoint(tmp_path / "ori" / "last.pt")
    logits = ob["orientation"](torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 64), torch.ones(2, 1, 32, 64))
    assert logits.shape == (2, 90)


def test_resume_drops_log_records_after_the_checkpoint(tmp_path):
    from training.engine import truncate_log

    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (10, 20, 30, 40)) + '{"step": 5')
    truncate_log(log, 20)
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [10, 20]
    truncate_log(log, 0)
    assert not log.exists()


def test_release_copy_keeps_weights_and_calibration_drops_optimizer(tmp_path, flat_root, tiny):
    from training.checkpoint import load_raw, save_checkpoint, strip_for_release

    cfg = tiny(flat_root)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    src = save_checkpoint(tmp_path / "last.pt", kind="localizer", model=model, cfg=cfg, step=7, optimizer=opt)
    state = load_raw(src)
    state["posterior_temperature"] = 0.07
    state["position_offset_rc_px"] = [0.5, -1.0]
    torch.save(state, src)
    out = load_raw(strip_for_release(src, tmp_path / "weak.pt", metrics={"mean_m": 1.5}))
    assert "optimizer" not in out and out["posterior_temperature"] == 0.07 and out["metrics"] == {"mean_m": 1.5}
    assert out["position_offset_rc_px"] == [0.5, -1.0]
    torch.testing.assert_close(out["state_dict"]["weight"], model.weight.detach())


def test_init_from_a_checkpoint_with_another_model_config_is_refused(flat_root, tiny, tmp_path):
    import pytest

    weak = tmp_path / "weak"
    train(tiny(flat_root), weak, max_steps=1, progress=False)
    cfg = tiny(flat_root, "distill", run={"init_from": str(weak / "last.pt")}, model={"input_norm": "instance"})
    with pytest.raises(ValueError, match="model.input_norm"):
        build_stage(cfg, "cpu")
    # the parameter-free photometric fields may differ: the weights still fit
    cfg = tiny(flat_root, "distill", run={"init_from": str(weak / "last.pt")},
               model={"photometric_weight": 0.5, "photometric_stride": 4})
    model, _, teacher = build_stage(cfg, "cpu")
    assert model.photometric and teacher is not None


def test_orientation_init_from_loads_its_weights_and_refuses_other_checkpoints(flat_root, tiny, tmp_path):
    import pytest

    ori = tmp_path / "ori"
    train(tiny(flat_root, "orientation"), ori, max_steps=2, progress=False)
    trained = load_checkpoint(ori / "last.pt")["orientation"].state_dict()
    cfg = tiny(flat_root, "orientation", run={"init_from": str(ori / "last.pt")},
               orientation={"max_center_offset_m": 0.5})  # a training-only field may change
    model, _, _ = build_stage(cfg, "cpu")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, trained[name])
    fresh, _, _ = build_stage(tiny(flat_root, "orientation"), "cpu")
    assert any(not torch.equal(v, trained[k]) for k, v in fresh.state_dict().items() if v.is_floating_point())
    with pytest.raises(ValueError, match="orientation.channels"):
        build_stage(tiny(flat_root, "orientation", run={"init_from": str(ori / "last.pt")},
                         orientation={"channels": [8, 16, 24, 32]}), "cpu")
    weak = tmp_path / "weak"
    train(tiny(flat_root), weak, max_steps=1, progress=False)
    with pytest.raises(ValueError, match="holds no orientation"):
        build_stage(tiny(flat_root, "orientation", run={"init_from": str(weak / "last.pt")}), "cpu")
    with pytest.raises(ValueError, match="holds no localizer"):
        build_stage(tiny(flat_root, "distill", run={"init_from": str(ori / "last.pt")}), "cpu")
