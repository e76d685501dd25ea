"""What the nginx image's default site answers: request-line rules, URI normalisation, pages.

Pure decisions, no sockets: ``pods.py`` reads bytes and writes what these functions decide.
The behaviour follows nginx's static handler on the image's ``default.conf`` (root
``/usr/share/nginx/html``, index ``index.html``, ``error_page 500 502 503 504 /50x.html``):

- GET/HEAD of ``/``, ``/index.html`` (any query string) or ``/50x.html`` -> 200;
- POST of an existing file -> 405, of anything else -> 404; any other method -> 405;
- a path that does not exist -> 404, with an ``open() ... failed`` line in the error log;
- a request line that is not ``METHOD SP target SP HTTP/x.y`` -> 400, HTTP/2+ -> 505.

The page texts are the twin's own; only their role and rough size follow the image.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass

SERVER_VERSION = "nginx/1.27.5"
DOCUMENT_ROOT = "/usr/share/nginx/html"
MAX_REQUEST_LINE = 8192  # large_client_header_buffers 4 8k
MAX_HEADER_LINE = 8192
MAX_HEADERS_TOTAL = 32768

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Not Allowed",
    408: "Request Time-out",
    414: "Request-URI Too Large",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}
# Statuses after which nginx closes the connection instead of keeping it alive.
CLOSING_STATUSES = frozenset({400, 408, 413, 414, 500, 501, 505})

_WELCOME = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Welcome to nginx!</title>
<style>
  body { max-width: 38em; margin: 2em auto;
         font-family: Helvetica, Arial, sans-serif; line-height: 1.45; }
  code { background: #f2f2f2; padding: 0 .25em; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>The web server is installed and answering. This is the stock page it shows
before any site has been set up.</p>
<p>Pages are served from <code>/usr/share/nginx/html</code> and every request is
written to the access log on standard output.</p>
<p><em>Nothing else to see here.</em></p>
</body>
</html>
"""

_FIFTY_X = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Error</title>
<style>
  body { max-width: 38em; margin: 2em auto; font-family: Helvetica, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>The page you asked for cannot be shown right now. Please try again in a moment.</p>
<p>If you run this server, its error log says what went wrong.</p>
</body>
</html>
"""

# The image's files carry the build's modification time; any fixed moment will do.
_IMAGE_MTIME = 1_744_804_871


@dataclass(frozen=True)
class StaticFile:
    """One file of the document root."""

    body: bytes
    mtime: int

    @property
    def etag(self) -> str:
        """Return the ETag nginx derives from mtime and size: ``"<hex mtime>-<hex size>"``."""
        return f'"{self.mtime:x}-{len(self.body):x}"'


FILES = {
    "/index.html": StaticFile(_WELCOME, _IMAGE_MTIME),
    "/50x.html": StaticFile(_FIFTY_X, _IMAGE_MTIME),
}


class HttpError(Exception):
    """A request nginx refuses: the status it answers with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class RequestLine:
    """A parsed request line; ``version`` is ``(0, 9)`` for a version-less HTTP/0.9 GET."""

    raw: bytes
    method: bytes
    target: bytes
    version: tuple[int, int]


_METHOD = re.compile(rb"[A-Z_-]+")
_VERSION = re.compile(rb"HTTP/(\d{1,3})\.(\d{1,3})")
_ABSOLUTE = re.compile(rb"(?i)https?://([^/?#]*)(.*)", re.DOTALL)
_HEX = frozenset(b"0123456789abcdefABCDEF")


def parse_request_line(raw: bytes) -> RequestLine:
    """Return the parsed request line, or raise HttpError (400, 505) as nginx would."""
    if b"\x00" in raw:
        raise HttpError(400, "client sent invalid request")
    tokens = [t for t in raw.split(b" ") if t]
    if len(tokens) == 2:
        method, target = tokens
        version = (0, 9)
    elif len(tokens) == 3:
        method, target, proto = tokens
        match = _VERSION.fullmatch(proto)
        if not match:
            raise HttpError(400, "client sent invalid request")
        version = (int(match[1]), int(match[2]))
        if version[0] > 1:
            raise HttpError(505, "client sent unsupported HTTP version")
        if version[0] < 1:
            raise HttpError(400, "client sent invalid HTTP version")
    else:
        raise HttpError(400, "client sent invalid request")
    if not _METHOD.fullmatch(method):
        raise HttpError(400, "client sent invalid method")
    if version == (0, 9) and method != b"GET":
        raise HttpError(400, "client sent invalid request")
    if any(b <= 0x20 or b == 0x7F for b in target):
        raise HttpError(400, "client sent invalid request")
    if not (target.startswith(b"/") or _ABSOLUTE.fullmatch(target)):
        raise HttpError(400, "client sent invalid request")
    return RequestLine(raw=raw, method=method, target=target, version=version)


def target_path(target: bytes) -> str:
    """Return the normalised, percent-decoded path of a request target (raise HttpError 400).

    Query and fragment are dropped, ``//`` merged, ``.``/``..`` resolved; a ``..`` above the
    root, a malformed ``%`` escape or an encoded NUL is a bad request. Bytes are kept one to one
    (latin-1), as nginx compares raw bytes.
    """
    absolute = _ABSOLUTE.fullmatch(target)
    if absolute:
        target = absolute[2] or b"/"
        if not target.startswith(b"/"):
            target = b"/" + target
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    decoded = _percent_decode(path)
    segments: list[bytes] = []
    parts = decoded.split(b"/")
    for part in parts:
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not segments:
                raise HttpError(400, "client sent invalid URI")
            segments.pop()
            continue
        segments.append(part)
    trailing = parts[-1] in (b"", b".", b"..") and bool(segments)
    result = b"/" + b"/".join(segments) + (b"/" if trailing else b"")
    return result.decode("latin-1")


def _percent_decode(path: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(path):
        byte = path[i]
        if byte != 0x25:
            out.append(byte)
            i += 1
            continue
        pair = path[i + 1 : i + 3]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            raise HttpError(400, "client sent invalid URI")
        value = int(pair, 16)
        if value == 0:
            raise HttpError(400, "client sent invalid URI")
        out.append(value)
        i += 3
    return bytes(out)


@dataclass(frozen=True)
class Resolution:
    """What the site answers for a method and a path, and what it tells the error log."""

    status: int
    file: StaticFile | None
    error_log: str | None = None


def resolve(method: bytes, path: str) -> Resolution:
    """Return how the default site answers ``method`` on the normalised ``path``."""
    if method not in (b"GET", b"HEAD", b"POST"):
        return Resolution(405, None)
    if path == "/":
        path = "/index.html"
    found = FILES.get(path)
    if found is None:
        if path.endswith("/"):
            message = f'"{DOCUMENT_ROOT}{path}index.html" is not found'
        else:
            message = f'open() "{DOCUMENT_ROOT}{path}" failed'
        return Resolution(404, None, f"{message} (2: No such file or directory)")
    if method == b"POST":
        return Resolution(405, None)
    return Resolution(200, found)


def error_page(status: int, server: str = SERVER_VERSION) -> bytes:
    """Return the small HTML page sent with an error status.

    The markup is the twin's own, sized like nginx's built-in pages (with a server string of
    the same length: 157 bytes for 400/405, 153 for 404), so ``$body_bytes_sent`` matches.
    """
    title = f"{status} {REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f'<h1 class="err">{title}</h1>\r\n<hr><p class="server">{server}</p>\r\n'
        "</body>\r\n</html>\r\n"
    ).encode()


def response_head(
    *,
    status: int,
    content_length: int,
    keep_alive: bool,
    now: float,
    file: StaticFile | None = None,
    server: str = SERVER_VERSION,
) -> bytes:
    """Return the status line and headers nginx sends (always ``HTTP/1.1``), ending CRLF CRLF."""
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"Server: {server}",
        f"Date: {email.utils.formatdate(now, usegmt=True)}",
        "Content-Type: text/html",
        f"Content-Length: {content_length}",
    ]
    if file is not None:
        lines.append(f"Last-Modified: {email.utils.formatdate(file.mtime, usegmt=True)}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    if file is not None:
        lines += [f"ETag: {file.etag}", "Accept-Ranges: bytes"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
