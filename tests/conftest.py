"""Hypothesis runs derandomized by default so that `make test` and CI are reproducible;
`HYPOTHESIS_PROFILE=explore make test-unit` searches with fresh random examples and more of them."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
