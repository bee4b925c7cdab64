"""Evaluation metrics: known errors in, known figures out, overall and per city (world)."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import metrics, metrics_by_city

META = {"prob_stride_px": 4, "prob_origin_px": 2.0, "meters_per_pixel": 0.2, "sat_size_px": 32}


def _peaked(i: int, j: int) -> np.ndarray:
    """Logits ``[8, 8]`` with one sharp symmetric peak: the estimate is cell (i, j)'s centre."""
    logits = np.zeros((8, 8), np.float32)
    logits[i, j] = 5.0
    return logits


def _collected():
    # city "a": errors of 1 m (5 px east); city "b": 2 m (10 px north); the estimate is cell (3, 3) = px (14, 14)
    d = {"logits": [], "gt": [], "yaw_err": [], "city": [], "examples": []}
    for city, (dr, dc), yaw in (("a", (0, -5), 1.0), ("a", (0, -5), 3.0), ("b", (10, 0), 5.0)):
        d["logits"].append(_peaked(3, 3))
        d["gt"].append((14.0 + dr, 14.0 + dc))
        d["yaw_err"].append(yaw)
        d["city"].append(city)
    return {"360": d}


def test_metrics_of_known_errors():
    d = _collected()["360"]
    m = metrics(d["logits"], d["gt"], d["yaw_err"], 0.01, META)
    assert m["n"] == 3
    assert m["mean_m"] == pytest.approx(4.0 / 3.0, abs=1e-6)
    assert m["median_m"] == pytest.approx(1.0, abs=1e-6)
    assert m["recall_1m"] == pytest.approx(2 / 3) and m["recall_3m"] == 1.0
    assert m["yaw_median_deg"] == pytest.approx(3.0)


def test_metrics_by_city_splits_every_fov_by_world():
    by_city = metrics_by_city(_collected(), 0.01, META)
    assert list(by_city) == ["a", "b"]
    a, b = by_city["a"]["360"], by_city["b"]["360"]
    assert (a["n"], b["n"]) == (2, 1)
    assert a["median_m"] == pytest.approx(1.0, abs=1e-6) and b["median_m"] == pytest.approx(2.0, abs=1e-6)
    assert a["yaw_mean_deg"] == pytest.approx(2.0) and b["yaw_mean_deg"] == pytest.approx(5.0)
    assert a["recall_1m"] == 1.0 and b["recall_1m"] == 0.0
