"""Vulnerability sources (CISA KEV, NVD CVE API 2.0, MyJVN / JVNDB, CSAF 2.0) polled onto kizuna.vulns."""
