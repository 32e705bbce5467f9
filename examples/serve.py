"""A minimal HTTP prediction service for a saved pyconvnet model, standard library only.

    python examples/serve.py model.safetensors --port 8000
    python examples/serve.py --demo --port 0          # trains a small model first

Endpoints (JSON in and out):

- POST /predict  {"inputs": [[[[...]]]]}  (N, C, H, W), or one (C, H, W) sample as a batch of one
                 -> {"outputs": per-sample model outputs, "classes": argmax per sample}
- GET /health    -> {"status": "ok"}
- GET /summary   -> InferenceModel.summary() as text/plain

A malformed request gets 400 and {"error": "..."} saying what is wrong; an unknown path 404.
`make_server` builds the server without serving, for tests and for embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

import pyconvnet
from pyconvnet import datasets
from pyconvnet.demo import build_model

# A float32 pixel takes 10-20 bytes of JSON: 8 MiB is a batch of about 200 32x32 RGB images.
# The limit is checked against Content-Length before anything is read, so a client cannot make
# the server buffer more than this.
MAX_BODY_BYTES = 8 << 20
DRAIN_FACTOR = 8  # an oversized body up to this many times the limit is read and dropped


class BadRequest(ValueError):
    """The client's fault: answered with 400 and the message."""


def _reject_constant(name):
    # Python's json accepts NaN and Infinity, which are not JSON and not sensible pixels.
    raise BadRequest(f"body is not valid JSON: {name} is not a JSON number")


def parse_inputs(body: bytes, input_shape) -> np.ndarray:
    """The (N, C, H, W) float32 batch in a /predict body, or BadRequest naming the problem."""
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise BadRequest('body must be a JSON object with an "inputs" key')
    expected = "(N, C, H, W) or (C, H, W)" if input_shape is None else (
        f"(N, {', '.join(map(str, input_shape))}) or ({', '.join(map(str, input_shape))})")
    try:
        x = np.asarray(payload["inputs"])
    except ValueError:  # ragged nesting
        raise BadRequest(f'"inputs" must be a nested list of numbers of shape {expected}; '
                         f"its rows have different lengths") from None
    # Without this check strings such as "1" would be quietly converted to numbers.
    if x.dtype.kind not in "iuf":
        raise BadRequest(f'"inputs" must hold only numbers, got {x.dtype.name} values')
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] == 0 or (input_shape is not None and x.shape[1:] != tuple(input_shape)):
        raise BadRequest(f'"inputs" must have shape {expected}, got {x.shape}')
    return x.astype(np.float32)


class PredictHandler(BaseHTTPRequestHandler):
    """One request; `self.server.engine` is the shared InferenceModel."""

    timeout = 30  # seconds a client may stall mid-request before its thread is freed

    def do_GET(self):
        if self.path == "/health":
            self._send_json(200, {"status": "ok"})
        elif self.path == "/summary":
            self._send(200, self.server.engine.summary().encode() + b"\n", "text/plain; charset=utf-8")
        else:
            self._send_json(404, {"error": f"no such path: GET {self.path}"})

    def do_POST(self):
        if self.path != "/predict":
            self._send_json(404, {"error": f"no such path: POST {self.path}"})
            return
        try:
            x = parse_inputs(self._read_body(), self.server.engine.input_shape)
            # predict is thread-safe: requests run in parallel without a lock here.
            out = self.server.engine.predict(x)
        except ValueError as exc:  # BadRequest, or predict naming a shape it cannot take
            self._send_json(400, {"error": str(exc)})
            return
        except Exception as exc:  # a bug, not the client's fault: answer, and keep serving
            self.log_error("predict failed: %r", exc)
            self._send_json(500, {"error": f"internal error: {type(exc).__name__}"})
            return
        classes = out.reshape(len(out), -1).argmax(axis=1)
        self._send_json(200, {"outputs": out.tolist(), "classes": classes.tolist()})

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest("a Content-Length header (a byte count) is required")
        length = int(length)
        limit = self.server.max_body_bytes
        if length > limit:
            self.close_connection = True  # what is left of the body is no next request
            # Clients that send the whole body before reading the answer would see a broken pipe
            # instead of this message if the body were left unread: drop (never keep) a few
            # times the limit first.
            left = min(length, DRAIN_FACTOR * limit)
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
            raise BadRequest(f"body of {length} bytes is larger than the limit of {limit} bytes")
        return self.rfile.read(length)

    def _send_json(self, status, obj):
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _send(self, status, data: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


class PredictServer(ThreadingHTTPServer):
    """One thread per connection."""

    # The default backlog of 5 makes a burst of concurrent clients wait for SYN retries (a
    # second or more) or be reset.
    request_queue_size = 128
    # Non-daemon handler threads, joined by server_close(): requests in flight get their answer.
    daemon_threads = False


def make_server(engine, host="127.0.0.1", port=0, max_body_bytes=MAX_BODY_BYTES, verbose=False):
    """A bound, listening server for `engine` (an InferenceModel); call `serve_forever()` on
    it, `shutdown()` from another thread to stop, then `server_close()`."""
    server = PredictServer((host, port), PredictHandler)
    server.engine = engine
    server.max_body_bytes = max_body_bytes
    server.verbose = verbose
    return server


def url_of(server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def train_demo_model(seed=0):
    """A small CNN trained for a second on generated 16x16 shapes (about 0.7 test accuracy);
    the same seed gives the same weights."""
    pyconvnet.manual_seed(seed)
    x, y, _ = datasets.make_shapes(2000, size=16, seed=seed)
    model = build_model(classes=len(datasets.SHAPE_NAMES), size=16)
    model.fit(x, y, epochs=3, batch_size=32, seed=seed, verbose=0)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve a saved pyconvnet model over HTTP.")
    parser.add_argument("model", nargs="?", help="a file written by model.save()")
    parser.add_argument("--demo", action="store_true", help="train and save a small demo model, then serve it")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port (the URL is printed)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--max-batch", type=int, default=None, help="samples per native call (bounds memory)")
    parser.add_argument("--max-body", type=int, default=MAX_BODY_BYTES, help="largest request body in bytes")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if (args.model is None) == (not args.demo):
        parser.error("give either a model file or --demo")

    if args.demo:
        # Goes through save/load like a real deployment, from a file that exists only meanwhile.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "demo.safetensors")
            train_demo_model().save(path)
            model = pyconvnet.load(path)
    else:
        try:
            model = pyconvnet.load(args.model)
        except (OSError, ValueError) as exc:  # a missing file, or not a pyconvnet model
            parser.error(f"cannot load {args.model}: {exc}")
    engine = pyconvnet.InferenceModel(model, precision=args.precision, max_batch=args.max_batch)
    server = make_server(engine, args.host, args.port, args.max_body, args.verbose)

    # SIGTERM (docker stop, systemd, kill) ends the server like Ctrl-C does. shutdown() would
    # deadlock here: the handler runs in the thread that is inside serve_forever.
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"serving {'the demo model' if args.demo else args.model} on {url_of(server)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
