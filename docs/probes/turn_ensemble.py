"""Evaluate a localizer as a turn ensemble: env ``TTA`` = 1 (off), 2 (the pair and the pair turned half a turn) or
4 (every quarter turn). Each turned pair's fused map is turned back and the maps are averaged. The ensemble
cancels a constant position offset, so pass ``--offset 0 0``. Arguments: those of ``geodistill eval``.
Written in session 12; findings measured in session 13 (docs/TRAINING_RESULTS.md, "Session 13").
"""

import os
import sys

import torch

from training import cli_eval
from training.augment import rotate_scene_90
from training.models import localizer as loc_module

TURNS = {1: [0], 2: [0, 2], 4: [0, 1, 2, 3]}[int(os.environ.get("TTA", "1"))]
_encode = loc_module.Localizer.encode_satellite
_match = loc_module.Localizer.match


class _Feats(list):
    """The satellite maps of the pair, with those of each turned patch under ``turned``."""


def encode_turned(self, sat):
    out = _Feats(_encode(self, sat))
    out.turned = {k: _encode(self, torch.rot90(sat, k, dims=(2, 3))) for k in TURNS if k}
    return out


def match_turned(self, ground, ground_mask, sat_feats, fft=False):
    base = _match(self, ground, ground_mask, list(sat_feats), fft=fft)
    turned = getattr(sat_feats, "turned", None)
    if not turned:
        return base
    acc = base["logits"]
    for k, feats in turned.items():
        _, g, m = rotate_scene_90(torch.zeros(1, 1, 4, 4), ground, ground_mask, k)
        acc = acc + torch.rot90(_match(self, g, m, feats, fft=fft)["logits"], -k, dims=(-2, -1))
    logits = acc / len(TURNS)
    b = logits.shape[0]
    prob = torch.softmax(logits.reshape(b, -1) / self.log_temperature.exp(), dim=1).reshape_as(logits)
    return {"logits": logits, "prob": prob}


loc_module.Localizer.encode_satellite = encode_turned
loc_module.Localizer.match = match_turned

if __name__ == "__main__":
    sys.exit(cli_eval.main(sys.argv[1:]))
