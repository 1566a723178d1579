"""Hooks that return junk, and classes that are not what the pipeline needs: each is reported and skipped."""

import numpy as np

from musefuse.core import Corruption, Fuser, Modality, hookimpl


class Returned(Corruption):
    name = "returned"

    def apply(self, features, level, rng, pool):
        return features, np.zeros(len(features), bool)


class NotCallablePredict(Fuser):
    name = "not-callable"
    predict = None  # not abstract any more, and not a method either

    def fit(self, predictions, difficulties, labels, devel, ctx):
        pass


class StringLearned(Fuser):
    name = "string-learned"
    learned = "yes"

    def fit(self, predictions, difficulties, labels, devel, ctx):
        pass

    def predict(self, predictions, difficulties):
        return []


class NoFolders(Modality):
    def folders(self):
        raise RuntimeError("no folders today")


@hookimpl
def register_corruptions(register):
    return [Returned]  # returned instead of registered


@hookimpl
def register_fusers(register):
    register(NotCallablePredict)
    register(StringLearned)


@hookimpl
def register_modalities(register):
    register(NoFolders(name="nofolders", width=2))
