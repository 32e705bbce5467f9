"""examples/serve.py: the HTTP service answers as the model does, in parallel, and rejects bad
requests with a message (run in a thread, and once as the command a user types)."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from conftest import load_example

import pyconvnet
from pyconvnet import datasets

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_BODY = 256 << 10  # small, so the oversized-body case costs little


@pytest.fixture(scope="module")
def ex():
    return load_example("serve")


@pytest.fixture(scope="module")
def model(ex):
    return ex.train_demo_model(seed=0)


@pytest.fixture(scope="module")
def url(ex, model):
    server = ex.make_server(pyconvnet.InferenceModel(model), "127.0.0.1", 0, max_body_bytes=MAX_BODY)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield ex.url_of(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def request(url, path, body=None):
    """(status, content type, body bytes) of a GET, or a POST when `body` is given."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers["Content-Type"], e.read()


def predict(url, x):
    status, ctype, body = request(url, "/predict", {"inputs": np.asarray(x).tolist()})
    assert status == 200, body
    assert ctype == "application/json"
    return json.loads(body)


def images(n, seed):
    return datasets.make_shapes(n, size=16, seed=seed)[0]


def check_against_model(answer, model, x):
    """Outputs within 1e-4 of the output scale of model.predict; classes their argmax."""
    expected = model.predict(x)
    out = np.asarray(answer["outputs"], dtype=np.float64)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    assert answer["classes"] == out.argmax(axis=1).tolist()


def test_predict_matches_the_model(url, model):
    x = images(5, seed=10)
    check_against_model(predict(url, x), model, x)


def test_one_sample_is_a_batch_of_one(url, model):
    x = images(1, seed=11)
    answer = predict(url, x[0])  # (C, H, W)
    check_against_model(answer, model, x)
    assert len(answer["classes"]) == 1


def test_concurrent_requests_answer_as_sequential_ones(url):
    batches = [images(1 + i % 4, seed=100 + i) for i in range(16)]
    sequential = [predict(url, x) for x in batches]
    concurrent = [None] * len(batches)
    start = threading.Barrier(len(batches))  # all sixteen requests in flight together

    def worker(i):
        start.wait()
        concurrent[i] = predict(url, batches[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert concurrent == sequential


@pytest.mark.parametrize("body, message", [
    (b"{not json", "not valid JSON"),
    (b'{"inputs": NaN}', "NaN is not a JSON number"),
    (b"[1, 2, 3]", '"inputs" key'),
    ({"input": [[[0.0]]]}, '"inputs" key'),
    ({"inputs": [[[0.0, 1.0], [2.0]]]}, "different lengths"),
    ({"inputs": [[["0.5"] * 16] * 16]}, "only numbers"),
    ({"inputs": []}, "shape (N, 1, 16, 16)"),
    ({"inputs": np.zeros((2, 3, 16, 16)).tolist()}, "got (2, 3, 16, 16)"),
    ({"inputs": np.zeros((1, 8, 8)).tolist()}, "got (1, 1, 8, 8)"),
    (b" " * (MAX_BODY + 1), f"larger than the limit of {MAX_BODY} bytes"),
])
def test_bad_request_is_400_naming_the_problem(url, body, message):
    status, ctype, data = request(url, "/predict", body)
    assert status == 400
    assert ctype == "application/json"
    assert message in json.loads(data)["error"]


def test_missing_content_length_is_400(url):
    host, port = url.rsplit("/", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/predict")
        conn.endheaders()
        r = conn.getresponse()
        assert r.status == 400
        assert "Content-Length" in json.loads(r.read())["error"]
    finally:
        conn.close()


def test_health_summary_and_unknown_paths(url):
    assert request(url, "/health")[:2] == (200, "application/json")
    assert json.loads(request(url, "/health")[2]) == {"status": "ok"}
    status, ctype, text = request(url, "/summary")
    assert (status, ctype) == (200, "text/plain; charset=utf-8")
    assert text.decode().startswith("InferenceModel (precision fp32") and "Conv2d + ReLU" in text.decode()
    for path, body in [("/nope", None), ("/predict/", None), ("/health", {"inputs": []})]:
        status, ctype, data = request(url, path, body)
        assert status == 404 and ctype == "application/json"
        assert "no such path" in json.loads(data)["error"]


def test_command_line_demo_serves_and_stops_on_sigterm(model):
    # The pyconvnet this test imported (installed, or a source tree with its built _C): the
    # repository root itself holds a pyconvnet/ without _C when the package is installed.
    env = dict(os.environ)
    home = str(pathlib.Path(pyconvnet.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = home + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "serve.py"), "--demo", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # The URL is printed once the socket listens: reading it is the readiness signal.
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no URL printed within 60 s"
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split()[-1]
        assert json.loads(request(url, "/health")[2]) == {"status": "ok"}
        # Same seed, same weights: the subprocess's demo model is this test's `model`.
        x = images(3, seed=20)
        check_against_model(predict(url, x), model, x)
        assert request(url, "/nope")[0] == 404
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.strip().endswith("stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        proc.stdout.close()
        proc.stderr.close()
