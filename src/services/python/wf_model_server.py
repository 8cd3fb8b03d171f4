# -*- coding: utf-8 -*-
"""wf's model server: serves a model folder the way ModelArts does.

    PORT=8080 python3 wf_model_server.py MODEL_DIR

Environment:
    PORT                  port to listen on, on 127.0.0.1 (required; 0 picks a free one)
    WF_MODEL_NAME         name reported by /health (default: MODEL_DIR's base name)
    WF_MODEL_VERSION      version reported by /health (default: null)
    WF_MODEL_CONCURRENCY  inference calls run at once (default 1: model code need
                          not be thread-safe; connections are still served in parallel)
    WF_MODEL_LOG_LEVEL    level of the model's logging (default WARNING)
    WF_DRAIN_SECONDS      on SIGTERM, how long requests in progress may finish (default 5)

The model folder holds either
  * ``customize_service.py`` (at its top or in its ``model/`` sub-folder) with a
    class derived from one of the ``model_service`` base services (written next
    to this file); the class is built once and every POST runs
    ``service.inference(data)``; or
  * ``config.json`` (same two places) naming a ``serve`` command: a list of
    arguments, or a string (run directly when it is a plain command, by
    ``/bin/sh -c`` when it uses shell syntax). This process then becomes that
    command (same pid, via exec), in the folder holding config.json, with PORT
    and WF_MODEL_DIR set; it prints no ready line, so poll GET /health.
    A ``serve`` command wins over ``customize_service.py``.

The service class is the one class in customize_service.py derived from a base
service (the most derived if several are related). It is built once, as
ModelArts builds it: ``cls(model_name, model_path)``, or ``cls(model_path)`` for
XgSklServingBaseService / SparkServingBaseService. ``model_path`` is the folder
holding customize_service.py, except for PTServingBaseService and
XgSklServingBaseService, where it is the model file in that folder (``*.pth``,
``*.pt``, ``*.pkl``, ``*.m``, ...; customize_service.py itself when there is
none, so that ``os.path.dirname(model_path)`` is still the folder), and
SparkServingBaseService, where it is the saved Spark model sub-folder. That
folder is put first on sys.path, and is also a package for relative imports.
The working directory is left as it was given.

HTTP/1.1 with keep-alive, standard library only:
  GET  /health  200 {"status": "ok", "model_name", "model_version"} once loaded
                (503 {"status": "loading"} before)
  POST <any>    JSON body -> the parsed JSON; multipart/form-data -> {field:
                {filename: file-like}} / {field: text}; x-www-form-urlencoded ->
                {field: text}. 200 with the JSON answer; 400 {"error"} for a body
                that cannot be read; 500 {"error", "traceback"} when the model raises.

Standard output carries exactly one line, ``ready on 127.0.0.1:PORT``, written
once the model is loaded and requests are served, then closed; anything the
model prints goes to standard error with the logs. SIGTERM/SIGINT stop
accepting, let requests in progress finish (up to WF_DRAIN_SECONDS) and exit 0.
Exit status 1: the model could not be loaded; 2: bad usage or the port is taken.
"""
import importlib.util
import inspect
import io
import json
import os
import shlex
import signal
import socket
import sys
import threading
import traceback
import types
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from model_service import log as _ms_log  # noqa: E402
from model_service.model_service import ModelService  # noqa: E402

HOST = "127.0.0.1"
PACKAGE = "_wf_model"  # synthetic package holding the model folder (relative imports)
MODEL_WEIGHT_EXTS = (".pth", ".pt", ".pth.tar", ".pkl", ".pickle", ".joblib", ".m",
                     ".model", ".bst", ".ckpt", ".bin", ".onnx", ".h5", ".safetensors")


SHELL_SYNTAX = set(";&|<>()$`\\\"'*?[]#~=%{}\n")


class UsageError(Exception):
    pass


class LoadError(Exception):
    pass


# --------------------------------------------------------------------------- model


def find_file(model_dir, name):
    for folder in (model_dir, os.path.join(model_dir, "model")):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def serve_command(model_dir):
    """(folder, command) from a config.json naming ``serve``, else None."""
    path = find_file(model_dir, "config.json")
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None  # a ModelArts config.json we cannot read is not ours to judge
    cmd = config.get("serve") if isinstance(config, dict) else None
    if not cmd:
        return None
    if not (isinstance(cmd, str) or (isinstance(cmd, list) and all(isinstance(a, str) for a in cmd))):
        raise UsageError("%s: \"serve\" must be a string or a list of strings" % path)
    return os.path.dirname(path), cmd


def exec_serve_command(folder, cmd, model_dir):
    env = dict(os.environ)
    env["WF_MODEL_DIR"] = model_dir
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(folder)
    if isinstance(cmd, list):
        argv = cmd
    elif any(c in cmd for c in SHELL_SYNTAX):
        argv = ["/bin/sh", "-c", cmd]
    else:
        # A plain command runs without a shell, so that this pid is the model's
        # own and SIGTERM reaches it.
        argv = shlex.split(cmd)
        if not argv:
            raise UsageError("the serve command is empty")
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        raise UsageError("cannot run serve command %r: %s" % (cmd, e))


def model_path_for(cls, folder, script):
    kind = getattr(cls, "_wf_model_path", "dir")
    if kind == "file":
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for ext in MODEL_WEIGHT_EXTS:
            for name in names:
                path = os.path.join(folder, name)
                if name.lower().endswith(ext) and os.path.isfile(path):
                    return path
        # No model file: point inside the folder all the same, so the usual
        # os.path.dirname(os.path.realpath(self.model_path)) is the model folder.
        return script
    if kind == "spark":
        for name in sorted(os.listdir(folder)):
            if os.path.isdir(os.path.join(folder, name, "metadata")):
                return os.path.join(folder, name)
    return folder


def import_customize_service(script):
    folder = os.path.dirname(script)
    # Absolute imports of the model's own modules (ModelArts puts the model folder
    # on sys.path); the folder above it too, for ``from model.x import y``.
    if folder not in sys.path:
        sys.path.insert(0, folder)
    parent = os.path.dirname(folder)
    if parent not in sys.path:
        sys.path.append(parent)
    # Relative imports (``from .utils import f``, which ModelArts recommends) need
    # a parent package: a synthetic one whose path is the model folder.
    pkg = types.ModuleType(PACKAGE)
    pkg.__path__ = [folder]
    pkg.__file__ = os.path.join(folder, "__init__.py")
    pkg.__package__ = PACKAGE
    sys.modules[PACKAGE] = pkg
    name = PACKAGE + ".customize_service"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.modules.setdefault("customize_service", module)
    # The model folder is a registry copy (maybe hard links): write no __pycache__ there.
    sys.dont_write_bytecode = True
    saved_argv = sys.argv
    sys.argv = [script]  # model code that parses arguments at import sees none
    try:
        spec.loader.exec_module(module)
    finally:
        sys.argv = saved_argv
    return module


def is_base_class(cls):
    mod = getattr(cls, "__module__", "") or ""
    return mod == "model_service" or mod.startswith("model_service.")


def pick_service_class(module, script):
    found = [c for c in vars(module).values()
             if inspect.isclass(c) and issubclass(c, ModelService) and not is_base_class(c)]
    own = [c for c in found if c.__module__ == module.__name__]
    candidates = own or found
    if not candidates:
        raise LoadError(
            "%s defines no class derived from a model_service base service "
            "(SingleNodeService, PTServingBaseService, TfServingBaseService, ...)" % script)
    leaves = [c for c in candidates
              if not any(o is not c and issubclass(o, c) for o in candidates)]
    if len(leaves) > 1:
        raise LoadError("%s defines several service classes (%s); keep one"
                        % (script, ", ".join(c.__name__ for c in leaves)))
    return leaves[0]


def construct(cls, model_name, model_path):
    ml_style = getattr(cls, "_wf_raw_body", False)
    preferred = [model_path] if ml_style else [model_name, model_path]
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return cls(*preferred)
    required, maximum = 0, 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            maximum += 1
            if p.default is p.empty:
                required += 1
        elif p.kind == p.VAR_POSITIONAL:
            maximum = float("inf")
        elif p.kind == p.KEYWORD_ONLY and p.default is p.empty:
            raise LoadError("%s.__init__ has a required keyword-only argument %s"
                            % (cls.__name__, p.name))
    for args in (preferred, [model_name, model_path], [model_path], []):
        if required <= len(args) <= maximum:
            return cls(*args)
    raise LoadError("%s.__init__%s takes neither (model_name, model_path) nor (model_path)"
                    % (cls.__name__, sig))


def load_service(model_dir, model_name):
    script = find_file(model_dir, "customize_service.py")
    if script is None:
        raise LoadError(
            "%s has no customize_service.py (at its top or in model/) and its config.json "
            "names no \"serve\" command" % model_dir)
    script = os.path.realpath(script)
    folder = os.path.dirname(script)
    module = import_customize_service(script)
    cls = pick_service_class(module, script)
    model_path = model_path_for(cls, folder, script)
    service = construct(cls, model_name, model_path)
    if getattr(service, "model_name", None) is None:
        service.model_name = model_name
    if getattr(service, "model_path", None) is None:
        service.model_path = model_path
    return service


# --------------------------------------------------------------------------- bodies


class BadRequest(Exception):
    pass


def header_params(value):
    msg = Message()
    msg["content-type"] = value
    return msg


def parse_multipart(body, content_type):
    boundary = header_params(content_type).get_param("boundary")
    if not boundary:
        raise BadRequest("multipart/form-data body without a boundary")
    boundary = boundary.encode("latin-1")
    delim = b"\r\n--" + boundary
    chunks = (b"\r\n" + body).split(delim)
    if len(chunks) < 2:
        raise BadRequest("multipart/form-data body without its boundary")
    data = {}
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        # The rest of the boundary line (transport padding, then CRLF).
        eol = chunk.find(b"\r\n")
        if eol < 0:
            raise BadRequest("malformed multipart/form-data part")
        chunk = chunk[eol + 2:]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            if chunk.startswith(b"\r\n"):  # a part with no headers
                head, content = b"", chunk[2:]
            else:
                raise BadRequest("malformed multipart/form-data part headers")
        disposition = None
        for line in head.split(b"\r\n"):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-disposition":
                disposition = value.strip().decode("utf-8", "surrogateescape")
        if disposition is None:
            raise BadRequest("multipart/form-data part without Content-Disposition")
        msg = Message()
        msg["content-disposition"] = disposition
        name = msg.get_param("name", header="content-disposition")
        if isinstance(name, tuple):
            name = name[2]
        if name is None:
            raise BadRequest("multipart/form-data part without a name")
        filename = msg.get_filename()
        if filename is not None:
            f = io.BytesIO(content)
            f.name = filename
            files = data.get(name)
            if not isinstance(files, dict):
                files = data[name] = {}
            files[filename] = f
        else:
            text = content.decode("utf-8", "replace")
            if name in data:
                prev = data[name]
                data[name] = prev + [text] if isinstance(prev, list) else [prev, text]
            else:
                data[name] = text
    if not closed:
        raise BadRequest("multipart/form-data body is truncated (no closing boundary)")
    return data


def parse_body(body, content_type, raw):
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        if raw:
            raise BadRequest("this model takes a JSON body, not multipart/form-data")
        return parse_multipart(body, content_type), None
    if not body.strip():
        raise BadRequest("empty request body: send JSON (or multipart/form-data)")
    try:
        parsed = json.loads(body)
    except ValueError as e:
        # curl -d sends JSON labelled as a form: JSON is tried first whatever the label.
        if ctype == "application/x-www-form-urlencoded" and not raw:
            return parse_form(body), None
        raise BadRequest("request body is not valid JSON: %s" % e)
    if raw:
        return body.decode("utf-8"), parsed
    return parsed, parsed


def parse_form(body):
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest("request body is neither JSON nor a valid form: %s" % e)
    return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}


def _jsonable(o):
    """json.dumps fallback for what models commonly return."""
    if hasattr(o, "detach") and hasattr(o, "cpu"):  # torch.Tensor
        o = o.detach().cpu()
    if hasattr(o, "tolist"):  # numpy arrays and scalars, tensors
        return o.tolist()
    if hasattr(o, "numpy"):  # TensorFlow eager tensors
        return o.numpy().tolist()
    if isinstance(o, (set, frozenset)):
        return list(o)
    if isinstance(o, (bytes, bytearray)):
        return o.decode("utf-8", "replace")
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "__fspath__"):
        return os.fspath(o)
    if hasattr(o, "__float__"):  # Decimal, Fraction
        return float(o)
    raise TypeError("%s is not JSON serializable" % type(o).__name__)


def encode_json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable).encode("utf-8")


def encode_result(result):
    if isinstance(result, (bytes, bytearray)):
        result = bytes(result).decode("utf-8", "replace")
    if isinstance(result, str):
        # A service that already serialised its answer (json.dumps) sends it as is.
        try:
            json.loads(result)
            return result.encode("utf-8")
        except ValueError:
            pass
    return encode_json(result)


# --------------------------------------------------------------------------- HTTP


REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
           411: b"Length Required", 413: b"Payload Too Large", 500: b"Internal Server Error",
           503: b"Service Unavailable"}


class State(object):
    def __init__(self, model_name, model_version, concurrency):
        self.model_name = model_name
        self.model_version = model_version
        self.service = None
        self.ready = False
        self.stopping = False
        self.gate = threading.BoundedSemaphore(max(1, concurrency))
        self.cond = threading.Condition()
        self.inflight = 0
        self.health_body = b""

    def mark_ready(self, service):
        self.service = service
        self.health_body = encode_json({"status": "ok", "model_name": self.model_name,
                                        "model_version": self.model_version})
        self.ready = True

    def enter(self):
        with self.cond:
            self.inflight += 1

    def leave(self):
        with self.cond:
            self.inflight -= 1
            if self.inflight == 0:
                self.cond.notify_all()

    def drain(self, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: self.inflight == 0, timeout)


class Headers(dict):
    """Request headers by lower-cased name (repeated ones joined with ", ")."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name):
        return dict.get(self, name.lower())

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wf-model-server"
    sys_version = ""
    disable_nagle_algorithm = True
    state = None  # set in main()

    # No per-request logging; errors of the HTTP layer still reach stderr.
    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, format, *args):
        pass

    def log_error(self, format, *args):
        sys.stderr.write("wf-model-server: %s\n" % (format % args))

    def parse_request(self):
        # http.server's header parsing goes through the email package and costs
        # a fifth of a trivial request; plain HTTP/1.x requests take this path.
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = line.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return BaseHTTPRequestHandler.parse_request(self)
        self.requestline = line
        self.command, self.path, self.request_version = words
        self.close_connection = True
        headers = Headers()
        rfile = self.rfile
        for _ in range(101):
            raw = rfile.readline(65537)
            if len(raw) > 65536:
                self.send_error(431, "Line too long")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if not sep or not name or name != name.strip():
                self.send_error(400, "Bad header line")
                return False
            name = name.lower()
            value = value.strip()
            prev = dict.get(headers, name)
            dict.__setitem__(headers, name, value if prev is None else prev + ", " + value)
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers
        conn = dict.get(headers, "connection", "").lower()
        if self.request_version == "HTTP/1.1":
            self.close_connection = "close" in conn
        else:
            self.close_connection = "keep-alive" not in conn
        if dict.get(headers, "expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def address_string(self):
        return self.client_address[0]

    def respond(self, code, body):
        head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
            code, REASONS.get(code, b"Error"), len(body))
        if self.close_connection or self.state.stopping:
            self.close_connection = True
            head += b"Connection: close\r\n"
        elif self.request_version == "HTTP/1.0":
            head += b"Connection: keep-alive\r\n"
        self.wfile.write(head + b"\r\n" + body)

    def error(self, code, message, **extra):
        payload = {"error": message}
        payload.update(extra)
        self.respond(code, encode_json(payload))

    def read_body(self):
        te = self.headers.get("Transfer-Encoding")
        if te is not None and te.strip().lower() != "identity":
            if te.strip().lower() != "chunked":
                self.close_connection = True
                raise BadRequest("unsupported Transfer-Encoding: %s" % te)
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise BadRequest("bad Content-Length: %s" % length)
        body = self.rfile.read(n)
        if len(body) != n:
            self.close_connection = True
            raise BadRequest("request body ended early")
        return body

    def read_chunked(self):
        parts = []
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise BadRequest("malformed chunked body")
            if size == 0:
                while True:  # trailers
                    line = self.rfile.readline(65537)
                    if line in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                self.close_connection = True
                raise BadRequest("chunked body ended early")
            parts.append(chunk)
            self.rfile.readline(65537)

    def do_GET(self):
        if "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
            try:
                self.read_body()  # unusual, but keep the connection in step
            except BadRequest:
                self.close_connection = True
        path = self.path.split("?", 1)[0]
        if path in ("/health", "/health/"):
            st = self.state
            if st.ready:
                self.respond(200, st.health_body)
            else:
                self.respond(503, encode_json({"status": "loading", "model_name": st.model_name,
                                               "model_version": st.model_version}))
        else:
            self.error(404, "no such resource: GET %s (GET /health, POST a JSON body to any path)"
                       % path)

    def do_POST(self):
        st = self.state
        st.enter()
        try:
            self.handle_post(st)
        finally:
            st.leave()

    def handle_post(self, st):
        try:
            body = self.read_body()
        except BadRequest as e:
            self.error(400, str(e))
            return
        if not st.ready:
            self.error(503, "the model is still loading")
            return
        service = st.service
        raw = getattr(service, "_wf_raw_body", False)
        try:
            data, parsed = parse_body(body, self.headers.get("Content-Type", ""), raw)
        except BadRequest as e:
            self.error(400, str(e))
            return
        try:
            with st.gate:
                result = service.inference(data)
            if getattr(service, "_wf_wrap_response", False):
                wrapped = {"data": {"resp_data": result}}
                if isinstance(parsed, dict) and "meta" in parsed:
                    wrapped = {"meta": parsed["meta"], "data": wrapped["data"]}
                result = wrapped
            out = encode_result(result)
        except Exception as e:
            tb = traceback.format_exc()
            sys.stderr.write("wf-model-server: inference failed:\n%s" % tb)
            sys.stderr.flush()
            self.error(500, "%s: %s" % (type(e).__name__, e), traceback=tb)
            return
        self.respond(200, out)

    def do_PUT(self):
        self.close_connection = True  # the body, if any, is not read
        self.error(405, "use POST for inference and GET /health")

    do_DELETE = do_PATCH = do_PUT


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return
        sys.stderr.write("wf-model-server: error serving %s:\n%s"
                         % (client_address[0], traceback.format_exc()))


# --------------------------------------------------------------------------- main


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: PORT=N python3 wf_model_server.py MODEL_DIR\n")
        return 2
    model_dir = os.path.abspath(argv[1])
    if not os.path.isdir(model_dir):
        sys.stderr.write("wf-model-server: %s is not a folder\n" % model_dir)
        return 2
    port_text = os.environ.get("PORT", "")
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        sys.stderr.write("wf-model-server: PORT must be set to a port number (got %r)\n" % port_text)
        return 2

    try:
        cmd = serve_command(model_dir)
        if cmd is not None:
            exec_serve_command(cmd[0], cmd[1], model_dir)  # does not return
    except UsageError as e:
        sys.stderr.write("wf-model-server: %s\n" % e)
        return 2

    # Standard output carries only the readiness line; whatever the model prints
    # (Python or native code) goes to standard error.
    sys.stdout.flush()
    ready_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True,
                                  encoding="utf-8", errors="replace")

    _ms_log.configure()
    model_name = os.environ.get("WF_MODEL_NAME") or os.path.basename(model_dir.rstrip(os.sep))
    model_version = os.environ.get("WF_MODEL_VERSION") or None
    try:
        concurrency = int(os.environ.get("WF_MODEL_CONCURRENCY", "1"))
    except ValueError:
        concurrency = 1
    try:
        drain_seconds = float(os.environ.get("WF_DRAIN_SECONDS", "5"))
    except ValueError:
        drain_seconds = 5.0

    state = State(model_name, model_version, concurrency)
    Handler.state = state
    try:
        server = Server((HOST, port), Handler)
    except OSError as e:
        sys.stderr.write("wf-model-server: cannot listen on %s:%d: %s\n" % (HOST, port, e))
        return 2
    bound_port = server.server_address[1]

    wake = threading.Event()
    failure = []

    def on_signal(signum, frame):
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                               name="wf-http", daemon=True)
    serving.start()

    def load():
        try:
            service = load_service(model_dir, model_name)
        except BaseException as e:
            failure.append(e)
            sys.stderr.write("wf-model-server: cannot load the model in %s:\n%s"
                             % (model_dir, traceback.format_exc()))
            sys.stderr.flush()
            wake.set()
            return
        state.mark_ready(service)
        line = ("ready on %s:%d\n" % (HOST, bound_port)).encode()
        try:
            os.write(ready_fd, line)
            os.close(ready_fd)
        except OSError:
            pass

    threading.Thread(target=load, name="wf-load", daemon=True).start()

    while not wake.wait(1.0):
        pass

    state.stopping = True
    server.shutdown()
    server.server_close()
    if not failure:
        state.drain(drain_seconds)
    sys.stderr.flush()
    os._exit(1 if failure else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
