"""Pure functions of the pipeline: no Kafka, no I/O, deterministic given their inputs."""
