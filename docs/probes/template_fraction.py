"""Evaluate a trained localizer with its learned levels' BEV template fraction set to env ``TF``.

The BEV sampling grids are fixed geometry without parameters, so the same weights load at any template width.
Arguments: those of ``geodistill eval``.
Written in session 12; findings measured in session 13 (docs/TRAINING_RESULTS.md, "Session 13").
"""

import os
import sys

import training.models as models
from training import cli_eval
from training.config import model_config_from_dict

TEMPLATE_FRACTION = float(os.environ["TF"])


def _with_fraction(d: dict):
    return model_config_from_dict({**d, "template_fraction": TEMPLATE_FRACTION})


models.model_config_from_dict = _with_fraction  # load_checkpoint builds the model through this name

if __name__ == "__main__":
    sys.exit(cli_eval.main(sys.argv[1:]))
