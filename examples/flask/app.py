"""The example backend that supervise runs and proxies to.

A small Flask API in the spirit of the original service's ``runner.py``,
which pm2 ran behind Caddy. Under supervise it is the process named
``backend`` in ``examples/local.yaml``; the integration tests and the
benchmarks in ``bench/`` use it as a real upstream.

Routes:

``GET /api/health``
    ``{"status": "ok"}``; what the readiness probe and the ALB poll.
``GET /home``
    A short HTML greeting, naming the signed-in user when the proxy says
    who it is.
``GET /whoami``
    The identity headers the proxy adds (``X-Auth-Request-*``) and the
    forwarding headers, as JSON; a header that is absent is ``null``.
``GET /echo`` (any method)
    The method, the path (decoded and raw), the query string exactly as
    received, and every request header, keyed by lower-case name.
``GET /slow?seconds=N``
    Sleeps N seconds (at most 600, fractions allowed), then answers; for
    tests of draining on shutdown.
``GET /download?bytes=N``
    N bytes of zeros, streamed in 64 KiB chunks; for tests of response
    streaming.
``POST /upload``
    Reads the body in 64 KiB chunks without keeping it, and answers its
    byte count and SHA-256; for tests of request streaming. Both
    ``Content-Length`` and chunked bodies work.

It listens on 127.0.0.1 only, on the port in ``PORT`` (default 5000): the
proxy is the only way in. The seed's app bound 0.0.0.0; that is gone.

It uses Flask's built-in threaded server, which is fine behind a proxy
for this example; a production backend would sit on gunicorn or similar,
run the same way. SIGTERM and SIGINT end it at once with exit status 0,
after one log line saying which signal came; draining in-flight requests
is the proxy's job, which stops sending before it signals the backend.
"""

import hashlib
import html
import os
import signal
import sys
import time

import werkzeug.serving
from flask import Flask, jsonify, request

HOST = "127.0.0.1"
DEFAULT_PORT = 5000
MAX_SLOW_SECONDS = 600.0
UPLOAD_CHUNK = 64 * 1024

IDENTITY_HEADERS = (
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Preferred-Username",
    "X-Auth-Request-Roles",
    "X-Auth-Request-Groups",
    "X-Forwarded-For",
    "X-Real-IP",
    "X-Request-Id",
)

app = Flask(__name__)


@app.get("/api/health")
def health():
    return jsonify(status="ok")


@app.get("/home")
def home():
    user = request.headers.get("X-Auth-Request-User")
    name = html.escape(user) if user else "there"
    body = f"<!doctype html>\n<title>home</title>\n<p>Hello, {name}!</p>\n"
    return body, 200, {"Content-Type": "text/html; charset=utf-8"}


@app.get("/whoami")
def whoami():
    return jsonify({name: request.headers.get(name) for name in IDENTITY_HEADERS})


@app.route("/echo", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def echo():
    # Werkzeug keeps the request line's target in RAW_URI; the proxy's
    # tests compare it with what the client sent.
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI", "")
    return jsonify(
        method=request.method,
        path=request.path,
        raw_path=raw_uri.split("?", 1)[0],
        query_string=request.query_string.decode("latin-1"),
        headers={name.lower(): value for name, value in request.headers.items()},
        remote_addr=request.remote_addr,
    )


@app.get("/slow")
def slow():
    try:
        seconds = float(request.args.get("seconds", "1"))
    except ValueError:
        return jsonify(error="seconds must be a number"), 400
    if not 0 <= seconds <= MAX_SLOW_SECONDS:
        return jsonify(error=f"seconds must be between 0 and {MAX_SLOW_SECONDS:g}"), 400

    time.sleep(seconds)
    return jsonify(slept=seconds)


@app.get("/download")
def download():
    # Streams `bytes` bytes of zeros without holding them, for tests of
    # response streaming through the proxy.
    try:
        size = int(request.args.get("bytes", "0"))
    except ValueError:
        return jsonify(error="bytes must be a whole number"), 400
    if size < 0:
        return jsonify(error="bytes must not be negative"), 400
    chunk = bytes(UPLOAD_CHUNK)

    def chunks():
        left = size
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            left -= len(piece)
            yield piece

    return app.response_class(chunks(), headers={"Content-Length": str(size)},
                              mimetype="application/octet-stream")


@app.post("/upload")
def upload():
    # request.stream is the undecoded body, bounded by Content-Length or
    # by the end of a chunked body; nothing is buffered here.
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = request.stream.read(UPLOAD_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return jsonify(bytes=size, sha256=digest.hexdigest())


def port_from_env():
    """The port in PORT, or the default; exits with status 2 when invalid."""
    text = os.environ.get("PORT", str(DEFAULT_PORT))
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        print(f"app.py: PORT={text!r} is not a port number (1-65535)", file=sys.stderr)
        sys.exit(2)
    return port


def exit_on_signal(signum, _frame):
    print(f"received {signal.Signals(signum).name}, exiting", flush=True)
    sys.exit(0)


def main():
    port = port_from_env()

    # Werkzeug colours its banner and access log with ANSI codes even into
    # a pipe; under a supervisor they would land in the container's logs
    # as junk. The switch is private, so a Werkzeug without it only keeps
    # the colours.
    if not sys.stderr.isatty():
        werkzeug.serving._log_add_style = False

    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGINT, exit_on_signal)

    # Printed just before the bind: app.run() blocks and has no hook for
    # "bound". A failed bind still ends the process with a traceback.
    print(f"listening on http://{HOST}:{port}", flush=True)
    app.run(host=HOST, port=port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
