"""TAXII 2.1 connector: a server for members, a poller for remote servers (see README.md)."""
