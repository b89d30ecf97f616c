"""The vulnerability sources (KEV, NVD, MyJVN, JVNDB RSS, CSAF) as a local HTTP server on a free port,
serving the real-format samples in tests/fixtures/vulns with ETags (304 when unchanged)."""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vulns"


class Sources(ThreadingHTTPServer):
    """KEV, NVD, MyJVN, JVNDB RSS and CSAF as a local server: files by path, with ETags (304 when unchanged)."""

    def __init__(self) -> None:
        self.files = {"/kev.json": "kev.json", "/nvd": "nvd_cves.json", "/rss.rdf": "jvndb_rss.rdf",
                      "/csaf/bsi-2022-0001.json": "csaf_bsi-2022-0001.json"}
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.failures: list[int] = []  # statuses to answer first, one per request (503, 429 ...)
        self.extra: dict[str, bytes] = {}  # path -> body, beside the fixture files
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def body(self, path: str, query: dict[str, list[str]]) -> bytes | None:
        if path == "/myjvn":
            method = query.get("method", [""])[0]
            name = {"getVulnOverviewList": "myjvn_getVulnOverviewList.xml",
                    "getVulnDetailInfo": "myjvn_getVulnDetailInfo_JVNDB-2022-000097.xml"}.get(method)
            return (FIXTURES / name).read_bytes() if name else None
        if path == "/nvd" and "startIndex" in query:  # the API's paging, over the fixture's records
            page = json.loads((FIXTURES / self.files[path]).read_bytes())
            start, size = int(query["startIndex"][0]), int(query.get("resultsPerPage", ["2000"])[0])
            page["vulnerabilities"] = page["vulnerabilities"][start:start + size]
            page.update(startIndex=start, resultsPerPage=len(page["vulnerabilities"]))
            return json.dumps(page).encode()
        if path in self.extra:
            return self.extra[path]
        return (FIXTURES / self.files[path]).read_bytes() if path in self.files else None


class _Handler(BaseHTTPRequestHandler):
    server: Sources

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.requests.append((parts.path, query, {k.lower(): v for k, v in self.headers.items()}))
        if self.server.failures:
            self.send_response(self.server.failures.pop(0))
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        body = self.server.body(parts.path, query)
        if body is None:
            self.send_error(404)
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass




@contextmanager
def serving() -> Iterator[Sources]:
    server = Sources()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
