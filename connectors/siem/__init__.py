"""SIEM outputs: one member's shared indicators as Elastic Common Schema documents, CEF over
syslog, and blocklists (plain lists per kind, Suricata rules), one-shot or streaming."""
