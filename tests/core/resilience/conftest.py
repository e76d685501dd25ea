"""The verify probe's local HTTP servers serve the stream script's tests too."""

from tests.core.verify.test_probe_script import closed_port, http_server

__all__ = ["closed_port", "http_server"]
