"""Estimators and fusers that each go wrong in one way while a run uses them (issue 30).

``MUSEFUSE_FAULTY_FIXED=1`` switches every fault off (the plugin "after the fix"; worker processes
inherit it): a run trained with it and a ``predict`` without it tests the calls outside the task
graph. ``sleepy`` sleeps in ``fit`` for ``MUSEFUSE_FAULTY_SLEEP`` seconds (default 60), so a test
can catch a run while its workers train. The module and its hooks print, as careless plugins do.
"""

import os
import time

import numpy as np
import torch

from musefuse.core import DifficultyEstimator, Fuser, hookimpl

print("musefuse-faulty: imported")  # must never reach stdout (--json)


def broken() -> bool:
    return os.environ.get("MUSEFUSE_FAULTY_FIXED") != "1"


class _Zero(DifficultyEstimator):
    """A difficulty of zero everywhere (a signal, so that the pipeline appends it)."""

    def fit(self, train, devel, ctx):
        pass

    def difficulty(self, sequences):
        return [np.zeros(len(x), np.float32) for x in sequences]


class FitRaises(_Zero):
    name = "fit-raises"

    def fit(self, train, devel, ctx):
        if broken():
            raise ValueError("the faulty estimator cannot fit")


class ShortDifficulty(_Zero):
    name = "short-difficulty"

    def difficulty(self, sequences):
        out = super().difficulty(sequences)
        return out[:-1] + [out[-1][:-5]] if broken() else out


class NanState(_Zero):
    name = "nan-state"

    def state(self):
        return ({"w": torch.full((2,), float("nan") if broken() else 0.0)}, {})

    @classmethod
    def load(cls, tensors, meta, device):
        return cls()


class Sleepy(_Zero):
    name = "sleepy"

    def fit(self, train, devel, ctx):
        end = time.monotonic() + float(os.environ.get("MUSEFUSE_FAULTY_SLEEP", "60"))
        while time.monotonic() < end:
            time.sleep(0.1)


class _Mean(Fuser):
    """The mean of the unimodal predictions."""

    learned = False

    def fit(self, predictions, difficulties, labels, devel, ctx):
        pass

    def predict(self, predictions, difficulties):
        return [np.asarray(p, np.float32).mean(axis=1) for p in predictions]


class PredictRaises(_Mean):
    name = "predict-raises"

    def predict(self, predictions, difficulties):
        if broken():
            raise RuntimeError("the faulty fuser cannot predict")
        return super().predict(predictions, difficulties)


class NanFuser(_Mean):
    name = "nan"

    def predict(self, predictions, difficulties):
        out = super().predict(predictions, difficulties)
        if broken():
            out[0][3] = np.nan
        return out


class ShortFuser(_Mean):
    name = "short"

    def predict(self, predictions, difficulties):
        out = super().predict(predictions, difficulties)
        return out[:-1] + [out[-1][:-5]] if broken() else out


class FewerFuser(_Mean):
    name = "fewer"

    def predict(self, predictions, difficulties):
        out = super().predict(predictions, difficulties)
        return out[:-1] if broken() else out


class LoadRaises(_Mean):
    """Fits and predicts; only rebuilding it from a checkpoint (predict, robustness --run) fails."""

    name = "load-raises"

    @classmethod
    def load(cls, tensors, meta, device):
        if broken():
            raise OSError("the faulty fuser cannot load its checkpoint")
        return cls()


class StateRaisesReloaded(_Mean):
    """Its state() fails once it was rebuilt by load(): a run fails when it writes the run folder."""

    name = "state-raises-reloaded"

    def state(self):
        if getattr(self, "reloaded", False) and broken():
            raise RuntimeError("the faulty fuser lost its state")
        return super().state()

    @classmethod
    def load(cls, tensors, meta, device):
        fuser = cls()
        fuser.reloaded = True
        return fuser


class Chatty(_Mean):
    name = "chatty"

    def fit(self, predictions, difficulties, labels, devel, ctx):
        print("musefuse-faulty: chatty fits")

    def predict(self, predictions, difficulties):
        print("musefuse-faulty: chatty predicts")
        return super().predict(predictions, difficulties)


@hookimpl
def register_estimators(register):
    print("musefuse-faulty: registering estimators")
    for cls in (FitRaises, ShortDifficulty, NanState, Sleepy):
        register(cls)


@hookimpl
def register_fusers(register):
    for cls in (PredictRaises, NanFuser, ShortFuser, FewerFuser, LoadRaises, StateRaisesReloaded, Chatty):
        register(cls)
