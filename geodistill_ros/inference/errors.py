"""Typed errors of the inference runtime: every failure to load or run a model raises one of these."""

from __future__ import annotations


class InferenceError(Exception):
    """Base class of all inference errors."""


class ModelFileError(InferenceError):
    """A model file is missing, unreadable or corrupt."""


class ModelMismatchError(ModelFileError):
    """A model file is readable but does not match the contract: bad metadata, wrong input/output names,
    a format version this runtime does not know, or files exported from different checkpoints."""


class BackendUnavailableError(InferenceError):
    """The requested backend cannot run here (package missing, no GPU, engine built for another TensorRT
    version or GPU). ``load_model(backend="auto")`` catches this and falls back to the next backend."""


class InputError(InferenceError, ValueError):
    """An input array has the wrong shape or type for the loaded model."""
