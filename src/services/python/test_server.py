# -*- coding: utf-8 -*-
"""Tests of wf_model_server.py against the fixtures in tests/fixtures/models.

    python3 src/services/python/test_server.py

Each test starts the server as a subprocess on a free port, as wf does.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "wf_model_server.py")
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "tests", "fixtures", "models"))
START_TIMEOUT = 20.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server(object):
    """A running wf_model_server.py (or the process a serve command becomes)."""

    def __init__(self, model_dir, env=None, wait=True, cwd=None):
        self.port = free_port()
        full_env = dict(os.environ)
        full_env.pop("WF_MODEL_NAME", None)
        full_env.pop("WF_MODEL_VERSION", None)
        full_env["PORT"] = str(self.port)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, model_dir], env=full_env,
            cwd=cwd or tempfile.gettempdir(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr_chunks = []
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()
        self.ready_line = None
        if wait:
            self.wait_ready()

    def _drain_stderr(self):
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            self.stderr_chunks.append(chunk)

    @property
    def stderr(self):
        return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def wait_ready(self):
        """Read the one readiness line from stdout (with a timeout)."""
        box = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if not box or not box[0]:
            self.stop()
            raise AssertionError("server did not become ready; stderr:\n" + self.stderr)
        self.ready_line = box[0].decode()
        return self.ready_line

    def wait_health(self):
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            try:
                status, body = self.request("GET", "/health")
                if status == 200:
                    return body
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("no healthy answer; stderr:\n" + self.stderr)

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            self.last_headers = resp.headers
            try:
                return resp.status, json.loads(data)
            except ValueError:
                return resp.status, data
        finally:
            if own:
                conn.close()

    def post_json(self, value, path="/", conn=None):
        return self.request("POST", path, json.dumps(value).encode(),
                            {"Content-Type": "application/json"}, conn)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr_reader.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


def multipart(fields, files):
    boundary = "wf" + uuid.uuid4().hex
    out = []
    for name, value in fields:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n" % (boundary, name)).encode())
        out.append(value.encode() + b"\r\n")
    for name, filename, content in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode())
        out.append(content + b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def write_model(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
    return root


class EchoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(os.path.join(FIXTURES, "echo"),
                            env={"WF_MODEL_NAME": "echo-model", "WF_MODEL_VERSION": "0.0.3"})

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_ready_line(self):
        self.assertEqual(self.server.ready_line, "ready on 127.0.0.1:%d\n" % self.server.port)

    def test_health(self):
        status, body = self.server.request("GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(body, {"status": "ok", "model_name": "echo-model", "model_version": "0.0.3"})

    def test_post_json(self):
        status, body = self.server.post_json({"a": [1, 2.5, "é"], "b": None})
        self.assertEqual(status, 200)
        self.assertEqual(body, {"echo": {"a": [1, 2.5, "é"], "b": None}, "version": "1.0.0"})
        self.assertEqual(self.server.last_headers["Content-Type"], "application/json")

    def test_any_path_and_form_labelled_json(self):
        # curl -d sends application/x-www-form-urlencoded; a JSON body is still JSON.
        status, body = self.server.request("POST", "/v1/infer/abc", b'{"k": 1}',
                                           {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, body), (200, {"echo": {"k": 1}, "version": "1.0.0"}))

    def test_urlencoded_form(self):
        status, body = self.server.request("POST", "/", b"a=1&b=two&b=three",
                                           {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200)
        self.assertEqual(body["echo"], {"a": "1", "b": ["two", "three"]})

    def test_keep_alive(self):
        conn = self.server.connection()
        try:
            for i in range(50):
                status, body = self.server.post_json({"i": i}, conn=conn)
                self.assertEqual((status, body["echo"]), (200, {"i": i}))
            status, _ = self.server.request("GET", "/health", conn=conn)
            self.assertEqual(status, 200)
            sock = conn.sock
            self.assertIsNotNone(sock)  # the same connection served every request
        finally:
            conn.close()

    def test_bad_json(self):
        for body in (b'{"a": ', b"not json", b"\xff\xfe\x00"):
            status, answer = self.server.request("POST", "/", body, {"Content-Type": "application/json"})
            self.assertEqual(status, 400, body)
            self.assertIn("error", answer)
        status, answer = self.server.request("POST", "/", b"{bad",
                                             {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 400)

    def test_empty_body(self):
        status, answer = self.server.request("POST", "/", b"", {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn("empty", answer["error"])

    def test_bad_json_keeps_connection(self):
        conn = self.server.connection()
        try:
            status, _ = self.server.request("POST", "/", b"{", {"Content-Type": "application/json"}, conn)
            self.assertEqual(status, 400)
            status, body = self.server.post_json({"after": True}, conn=conn)
            self.assertEqual((status, body["echo"]), (200, {"after": True}))
        finally:
            conn.close()

    def test_multipart(self):
        content = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"
        body, ctype = multipart([("note", "héllo")],
                                [("images", "a.bin", content), ("images", "b.txt", b"second"),
                                 ("other", "c.jpg", b"")])
        status, answer = self.server.request("POST", "/", body, {"Content-Type": ctype})
        self.assertEqual(status, 200, answer)
        echo = answer["echo"]
        self.assertEqual(echo["note"], "héllo")
        self.assertEqual(echo["images"]["a.bin"],
                         {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()})
        self.assertEqual(echo["images"]["b.txt"]["size"], 6)
        self.assertEqual(echo["other"]["c.jpg"]["size"], 0)

    def test_bad_multipart(self):
        status, answer = self.server.request("POST", "/", b"garbage",
                                             {"Content-Type": "multipart/form-data; boundary=xyz"})
        self.assertEqual(status, 400)
        status, answer = self.server.request("POST", "/", b"--xyz\r\nfoo",
                                             {"Content-Type": "multipart/form-data"})
        self.assertEqual(status, 400)

    def test_chunked_body(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            payload = b'{"chunked": [1, 2, 3]}'
            req = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" +
                   b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (5, payload[:5], len(payload) - 5, payload[5:]))
            sock.sendall(req)
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            self.assertEqual(resp.status, 200)
            self.assertEqual(json.loads(resp.read())["echo"], {"chunked": [1, 2, 3]})
        finally:
            sock.close()

    def test_expect_continue(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            payload = b'{"big": "' + b"x" * 5000 + b'"}'
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(payload))
            first = sock.recv(100)
            self.assertTrue(first.startswith(b"HTTP/1.1 100"), first)
            sock.sendall(payload)
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            self.assertEqual(resp.status, 200)
            self.assertEqual(len(json.loads(resp.read())["echo"]["big"]), 5000)
        finally:
            sock.close()

    def test_http10_and_connection_close(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertIn(b" 200 ", data.split(b"\r\n")[0])
            self.assertIn(b"Content-Length:", data)
        finally:
            sock.close()
        status, _ = self.server.request("GET", "/health", headers={"Connection": "close"})
        self.assertEqual(status, 200)

    def test_not_found_and_method(self):
        status, answer = self.server.request("GET", "/nope")
        self.assertEqual(status, 404)
        self.assertIn("error", answer)
        status, answer = self.server.request("PUT", "/", b"{}")
        self.assertEqual(status, 405)

    def test_content_length_always_set(self):
        conn = self.server.connection()
        try:
            for method, path, body in (("GET", "/health", None), ("POST", "/", b"{}"), ("GET", "/x", None),
                                       ("POST", "/", b"{")):
                conn.request(method, path, body=body)
                resp = conn.getresponse()
                resp.read()
                self.assertIsNotNone(resp.getheader("Content-Length"), (method, path))
        finally:
            conn.close()

    def test_parallel_connections(self):
        errors = []

        def worker(n):
            try:
                conn = self.server.connection()
                for i in range(30):
                    status, body = self.server.post_json({"w": n, "i": i}, conn=conn)
                    if status != 200 or body["echo"] != {"w": n, "i": i}:
                        errors.append((status, body))
                conn.close()
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


class LinearTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(os.path.join(FIXTURES, "linear"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_predict(self):
        status, body = self.server.post_json({"x": [1, 2, 3]})
        self.assertEqual(status, 200)
        self.assertEqual(body, {"y": [14.5, -3.5]})

    def test_health_default_name(self):
        status, body = self.server.request("GET", "/health")
        self.assertEqual(body, {"status": "ok", "model_name": "linear", "model_version": None})

    def test_user_error_is_500(self):
        status, body = self.server.post_json({"x": [1, 2]})
        self.assertEqual(status, 500)
        self.assertIn("ValueError", body["error"])
        status, body = self.server.post_json({"y": 1})
        self.assertEqual(status, 500)
        self.assertIn("KeyError", body["error"])
        status, body = self.server.post_json({"x": [0, 0, 0]})
        self.assertEqual((status, body), (200, {"y": [0.5, -2.0]}))


class BrokenTest(unittest.TestCase):
    def test_500_and_survives(self):
        server = Server(os.path.join(FIXTURES, "broken"))
        try:
            conn = server.connection()
            for _ in range(3):
                status, body = server.post_json({"x": 1}, conn=conn)
                self.assertEqual(status, 500)
                self.assertEqual(body["error"], "ValueError: broken on purpose")
                self.assertIn("Traceback", body["traceback"])
                self.assertIn("customize_service.py", body["traceback"])
            conn.close()
            status, body = server.request("GET", "/health")
            self.assertEqual(status, 200)
            self.assertIsNone(server.proc.poll())
        finally:
            self.assertEqual(server.stop(), 0)
        self.assertIn("broken on purpose", server.stderr)  # errors are logged


class CommandTest(unittest.TestCase):
    def test_serve_command(self):
        server = Server(os.path.join(FIXTURES, "cmd"), wait=False)
        try:
            self.assertEqual(server.wait_health(), {"status": "ok"})
            if os.path.exists("/proc/%d/cmdline" % server.proc.pid):
                with open("/proc/%d/cmdline" % server.proc.pid, "rb") as f:
                    argv = f.read().split(b"\0")
                self.assertIn(b"server.py", argv)  # the pid wf started is the command itself
            status, body = server.post_json({"x": [1, 2, 3.5]})
            self.assertEqual((status, body), (200, {"sum": 6.5, "served_by": "cmd"}))
        finally:
            started = time.time()
            server.stop()
            self.assertLess(time.time() - started, 5)  # SIGTERM reached the command itself


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wf-model-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_sigterm_exits_promptly(self):
        server = Server(os.path.join(FIXTURES, "echo"))
        conn = server.connection()
        server.post_json({"warm": 1}, conn=conn)  # an idle keep-alive connection stays open
        started = time.time()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(10)
        self.assertLess(time.time() - started, 2.0)
        self.assertEqual(server.proc.returncode, 0)
        conn.close()
        server.stop()

    def test_sigterm_lets_requests_finish(self):
        root = write_model(self.tmp, {"customize_service.py": """
            import time
            from model_service.model_service import SingleNodeService

            class Slow(SingleNodeService):
                def _inference(self, data):
                    time.sleep(data["sleep"])
                    return {"slept": data["sleep"]}
            """})
        server = Server(root)
        result = []
        t = threading.Thread(target=lambda: result.append(server.post_json({"sleep": 0.8})))
        t.start()
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        t.join(10)
        self.assertEqual(result, [(200, {"slept": 0.8})])
        server.proc.wait(10)
        self.assertEqual(server.proc.returncode, 0)
        server.stop()

    def test_stdout_only_ready_line_and_prints_go_to_stderr(self):
        root = write_model(self.tmp, {"model/customize_service.py": """
            import os
            from model_service.model_service import SingleNodeService

            print("hello from import")

            class Loud(SingleNodeService):
                def __init__(self, model_name, model_path):
                    print("hello from __init__")
                    os.write(1, b"native write\\n")

                def _inference(self, data):
                    print("hello from inference")
                    return {"ok": True}
            """})
        server = Server(root)
        self.assertTrue(server.ready_line.startswith("ready on 127.0.0.1:"))
        self.assertEqual(server.post_json({}), (200, {"ok": True}))
        rest = []
        reader = threading.Thread(target=lambda: rest.append(server.proc.stdout.read()), daemon=True)
        reader.start()
        reader.join(5)
        self.assertEqual(rest, [b""])  # stdout was closed after the ready line
        server.stop()
        err = server.stderr
        for text in ("hello from import", "hello from __init__", "native write", "hello from inference"):
            self.assertIn(text, err)

    def test_health_503_while_loading(self):
        root = write_model(self.tmp, {"customize_service.py": """
            import time
            from model_service.model_service import SingleNodeService

            class SlowLoad(SingleNodeService):
                def __init__(self, model_name, model_path):
                    time.sleep(1.5)
            """})
        server = Server(root, wait=False)
        try:
            deadline = time.time() + 5
            status = None
            while time.time() < deadline:
                try:
                    status, body = server.request("GET", "/health")
                    break
                except OSError:
                    time.sleep(0.05)
            self.assertEqual(status, 503)
            self.assertEqual(body["status"], "loading")
            status, body = server.post_json({})
            self.assertEqual(status, 503)
            server.wait_ready()
            self.assertEqual(server.request("GET", "/health")[0], 200)
            self.assertEqual(server.post_json({"a": 1}), (200, {"a": 1}))
        finally:
            server.stop()

    def test_load_failure_exits_1(self):
        root = write_model(self.tmp, {"customize_service.py": """
            from model_service.model_service import SingleNodeService

            class Bad(SingleNodeService):
                def __init__(self, model_name, model_path):
                    raise RuntimeError("cannot load weights")
            """})
        server = Server(root, wait=False)
        server.proc.wait(20)
        server.stop()
        self.assertEqual(server.proc.returncode, 1)
        self.assertIn("cannot load weights", server.stderr)

    def test_no_model_exits_1(self):
        server = Server(self.tmp, wait=False)
        server.proc.wait(20)
        server.stop()
        self.assertEqual(server.proc.returncode, 1)
        self.assertIn("customize_service.py", server.stderr)

    def test_no_service_class(self):
        root = write_model(self.tmp, {"customize_service.py": "class NotAService(object):\n    pass\n"})
        server = Server(root, wait=False)
        server.proc.wait(20)
        server.stop()
        self.assertEqual(server.proc.returncode, 1)
        self.assertIn("no class derived", server.stderr)

    def test_bad_port(self):
        server = Server(os.path.join(FIXTURES, "echo"), env={"PORT": "nope"}, wait=False)
        server.proc.wait(20)
        server.stop()
        self.assertEqual(server.proc.returncode, 2)

    def test_port_taken(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            server = Server(os.path.join(FIXTURES, "echo"), env={"PORT": str(s.getsockname()[1])}, wait=False)
            server.proc.wait(20)
            server.stop()
        self.assertEqual(server.proc.returncode, 2)
        self.assertIn("cannot listen", server.stderr)

    def test_port_zero_reports_port(self):
        server = Server(os.path.join(FIXTURES, "echo"), env={"PORT": "0"}, wait=True)
        try:
            port = int(server.ready_line.strip().rsplit(":", 1)[1])
            self.assertNotEqual(port, 0)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/health")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            server.stop()

    def test_imports_most_derived_class_helpers_and_log(self):
        root = write_model(self.tmp, {
            "model/helper.py": "def double(v):\n    return 2 * v\n",
            "model/customize_service.py": """
                import log
                import model_service.log as mslog
                from model_service import log as mslog2
                from model_service.model_service import SingleNodeService
                from model_service.tfserving_model_service import TfServingBaseService
                from model_service.pytorch_model_service import PTServingBaseService
                import helper
                from . import helper as rel_helper

                logger = log.getLogger(__name__)
                mslog.getLogger(__name__).warning("warned at import")

                class Base(SingleNodeService):
                    def _preprocess(self, data):
                        return data["v"]

                class Derived(Base):
                    def __init__(self, model_name, model_path):
                        super(Derived, self).__init__(model_name, model_path)
                        self.seen = (model_name, model_path)

                    def _inference(self, data):
                        return helper.double(data) + rel_helper.double(data)

                    def _postprocess(self, data):
                        return {"v": data, "name": self.seen[0], "path": self.seen[1]}
                """})
        server = Server(root, env={"WF_MODEL_NAME": "m1"})
        try:
            status, body = server.post_json({"v": 5})
            self.assertEqual(status, 200)
            self.assertEqual(body["v"], 20)
            self.assertEqual(body["name"], "m1")
            self.assertEqual(os.path.realpath(body["path"]), os.path.realpath(os.path.join(root, "model")))
        finally:
            server.stop()
        self.assertIn("warned at import", server.stderr)

    def test_pytorch_model_path_is_model_file(self):
        root = write_model(self.tmp, {
            "model/resnet.pth": "weights",
            "model/label.json": '["cat", "dog"]',
            "model/customize_service.py": """
                import json, os
                from model_service.pytorch_model_service import PTServingBaseService

                class Svc(PTServingBaseService):
                    def __init__(self, model_name, model_path):
                        # No super().__init__: ModelArts code often skips it.
                        self.file = model_path
                        dir_path = os.path.dirname(os.path.realpath(model_path))
                        with open(os.path.join(dir_path, "label.json")) as f:
                            self.label = json.load(f)
                        self.model = lambda xs: [self.label[int(x)] for x in xs]

                    def _postprocess(self, data):
                        return {"labels": data["ids"], "file": os.path.basename(self.file),
                                "name": self.model_name}
                """})
        server = Server(root, env={"WF_MODEL_NAME": "pt"})
        try:
            self.assertEqual(server.post_json({"ids": [1, 0]}),
                             (200, {"labels": ["dog", "cat"], "file": "resnet.pth", "name": "pt"}))
        finally:
            server.stop()

    def test_xgboost_sklearn_style(self):
        root = write_model(self.tmp, {
            "model/model.m": "not really a model",
            "model/customize_service.py": """
                import collections, json, os
                from model_service.python_model_service import XgSklServingBaseService

                class user_Service(XgSklServingBaseService):
                    def _preprocess(self, data):
                        assert isinstance(data, str), type(data)
                        json_data = json.loads(data, object_pairs_hook=collections.OrderedDict)
                        return [[e[k] for k in e] for e in json_data["data"]["req_data"]]

                    def _inference(self, data):
                        assert os.path.basename(self.model_path) == "model.m", self.model_path
                        return [sum(row) for row in data]
                """})
        server = Server(root)
        try:
            req = {"meta": {"uuid": "u1"}, "data": {"req_data": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}}
            status, body = server.post_json(req)
            self.assertEqual(status, 200, body)
            self.assertEqual(body, {"meta": {"uuid": "u1"},
                                    "data": {"resp_data": [{"predictresult": 3}, {"predictresult": 7}]}})
        finally:
            server.stop()

    def test_json_string_and_numpy_like_results(self):
        root = write_model(self.tmp, {"customize_service.py": """
            import json
            from model_service.model_service import SingleNodeService

            class Arr(object):
                def __init__(self, v):
                    self.v = v
                def tolist(self):
                    return list(self.v)

            class Svc(SingleNodeService):
                def _inference(self, data):
                    kind = data["kind"]
                    if kind == "json-string":
                        return json.dumps({"already": "json"})
                    if kind == "text":
                        return "plain text"
                    if kind == "array":
                        return {"a": Arr((1, 2)), "s": {3}}
                    return object()
            """})
        server = Server(root)
        try:
            self.assertEqual(server.post_json({"kind": "json-string"}), (200, {"already": "json"}))
            self.assertEqual(server.post_json({"kind": "text"}), (200, "plain text"))
            self.assertEqual(server.post_json({"kind": "array"}), (200, {"a": [1, 2], "s": [3]}))
            status, body = server.post_json({"kind": "other"})
            self.assertEqual(status, 500)
            self.assertIn("not JSON serializable", body["error"])
        finally:
            server.stop()

    def test_cwd_independent(self):
        server = Server(os.path.relpath(os.path.join(FIXTURES, "linear"), HERE), cwd=HERE)
        try:
            self.assertEqual(server.post_json({"x": [1, 1, 1]}), (200, {"y": [6.5, -2.5]}))
        finally:
            server.stop()

    def test_no_framework_imported(self):
        code = ("import sys; sys.path.insert(0, %r)\n"
                "import model_service.model_service, model_service.pytorch_model_service\n"
                "import model_service.tfserving_model_service, model_service.python_model_service\n"
                "import model_service.spark_model_service, model_service.caffe_model_service, log\n"
                "bad = [m for m in ('torch', 'tensorflow', 'numpy', 'pyspark', 'caffe', 'xgboost',"
                " 'sklearn', 'joblib') if m in sys.modules]\n"
                "assert not bad, bad\n" % HERE)
        subprocess.check_call([sys.executable, "-c", code])


if __name__ == "__main__":
    unittest.main(verbosity=2)
