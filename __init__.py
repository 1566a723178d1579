"""musefuse: multi-modal fusion for continuous emotion recognition with auto-encoder difficulty indicators."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("musefuse")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"


def _embedded_synthetic(modalities: list[str]):
    from musefuse.lab.synth import embedded_dataset  # the generator loads only for a run without --data

    return embedded_dataset(modalities)


# A run without --data uses the synthetic dataset; core holds only the slot, so core never imports lab.
from musefuse.core.data import embedded  # noqa: E402  (after __version__, which core's plugin host reads)

embedded.provide(_embedded_synthetic, "the embedded synthetic Ulm-TSST-like dataset (generated once, then cached)")
