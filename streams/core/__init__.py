"""Pure functions of the pipeline: no Kafka, no I/O, deterministic given their inputs.

The hot modules run compiled when a current build exists (streams/native.py)."""
from streams import native

native.activate(__path__)
