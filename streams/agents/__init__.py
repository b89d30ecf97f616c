"""Faust agents: thin loops that read, call streams.core, publish and acknowledge."""
