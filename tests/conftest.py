"""Hypothesis profiles: ``ci`` (derandomized, bounded, no deadline) and ``dev`` (more examples);
and ``server``, a file server on 127.0.0.1 for the download tests.

CI sets CI=true and gets ``ci``; elsewhere ``dev`` runs unless HYPOTHESIS_PROFILE says otherwise.
"""

import functools
import http.server
import os
import threading

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=150,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a directory; /short promises 1,000 bytes and sends 10; /unsized sends no length."""

    def do_GET(self):
        if self.path == "/unsized":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"abc")
            return
        if self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            return
        super().do_GET()

    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(base URL, served directory) of an HTTP server on 127.0.0.1."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()
    thread.join()
