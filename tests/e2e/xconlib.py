"""Helpers for the end-to-end tests: a real `xcon --headless` process and
the clients real users point at it.

  Engine        starts xcon on a private state dir, unix socket and an
                ephemeral TCP port; stop() asserts a clean exit and no
                sanitizer report.
  Client        XML-RPC (xmlrpc.client) over TCP or the unix socket, with
                XenAPI's Status/Value/ErrorDescription envelope unwrapped;
                failures raise Failure(details).
  Session       a logged-in client: s.call("VM.get_all") or s.xenapi.VM.get_all()
                put the session ref first, as XenAPI.py does.
  JsonClient    JSON-RPC 1.0/2.0 on POST /jsonrpc.
  RawHTTP       bytes on a socket, for malformed requests and byte-exact
                checks of replies.
  Datamodel     the classes, fields and messages parsed from dm/def/*.def
                (a small regex parser), and a checker of values against
                datamodel types.

Nothing here sleeps for a fixed time where a condition can be waited for.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid as uuidlib
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def xcon_bin() -> str:
    env = os.environ.get("XCON_BIN")
    if env:
        return env
    for cand in (REPO / "build-asan/bin/xcon", REPO / "bin/xcon"):
        if cand.exists():
            return str(cand)
    return str(REPO / "build-asan/bin/xcon")


REF_RE = re.compile(r"^OpaqueRef:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATETIME_RE = re.compile(r"^\d{8}T\d{2}:\d{2}:\d{2}Z$")
NULL_REF = "OpaqueRef:NULL"
SANITIZER_MARKS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "SUMMARY: AddressSanitizer",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
)


_preload_cache = {}


def asan_crypt_preload(binary) -> str | None:
    """LD_PRELOAD value working around an AddressSanitizer limitation, or None.

    libasan intercepts crypt_r(); when libcrypt is not loaded at start-up
    (it only arrives with pam_unix.so, dlopen()ed at the first PAM login)
    the interceptor's pointer to the real crypt_r stays NULL and the first
    TCP login dies with SEGV at pc 0 inside pam_unix.so.  Linking the ASan
    build with -Wl,--no-as-needed -lcrypt fixes it for good; until then the
    suite preloads libasan + libcrypt for such binaries.  Set
    XCON_E2E_NO_PRELOAD=1 to see the crash."""
    if os.environ.get("XCON_E2E_NO_PRELOAD"):
        return None
    if binary in _preload_cache:
        return _preload_cache[binary]
    val = None
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
        libs = dict(re.findall(r"^\s*(\S+) => (\S+)", out, re.M))
        asan = next((p for n, p in libs.items() if n.startswith("libasan.so")), None)
        if asan and not any(n.startswith("libcrypt.so") for n in libs):
            for cand in ("/lib/x86_64-linux-gnu/libcrypt.so.1", "/usr/lib/x86_64-linux-gnu/libcrypt.so.1",
                         "/lib64/libcrypt.so.1"):
                if os.path.exists(cand):
                    val = f"{asan} {cand}"
                    break
    except (OSError, subprocess.SubprocessError):
        pass
    _preload_cache[binary] = val
    return val


def new_ref() -> str:
    return "OpaqueRef:" + str(uuidlib.uuid4())


def etch_vm(x, name: str) -> str:
    """A provisioned (halted) clone of the "Debian Etch 4.0" template."""
    recs = x.VM.get_all_records()
    tmpl = next(r for r, v in recs.items() if v["name_label"] == "Debian Etch 4.0")
    vm = x.VM.clone(tmpl, name)
    x.VM.provision(vm)
    return vm


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns something true; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# XenAPI failures and the XML-RPC clients


class Failure(Exception):
    """A XenAPI Failure envelope: details = [CODE, params...]."""

    def __init__(self, details):
        super().__init__(details)
        self.details = [str(d) for d in details]

    @property
    def code(self):
        return self.details[0] if self.details else None

    @property
    def params(self):
        return self.details[1:]

    def __str__(self):
        return f"Failure{self.details}"


class EnvelopeError(AssertionError):
    pass


def unwrap(result):
    """XenAPI envelope -> Value, or raises Failure.  Replies without a Status
    member (system.listMethods) are returned as they are."""
    if isinstance(result, dict) and "Status" in result:
        if result["Status"] == "Success":
            if "Value" not in result:
                raise EnvelopeError(f"Success without Value: {result!r}")
            return result["Value"]
        if result["Status"] == "Failure":
            if "ErrorDescription" not in result:
                raise EnvelopeError(f"Failure without ErrorDescription: {result!r}")
            raise Failure(result["ErrorDescription"])
        raise EnvelopeError(f"unknown Status: {result!r}")
    return result


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over an AF_UNIX socket, as XenAPI.py's xapi_local() does."""

    def __init__(self, path, timeout=60.0):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._unix_path)
        self.sock = s


class _TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout=60.0):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        chost, self._extra_headers, _ = self.get_host_info(host)
        self._connection = host, http.client.HTTPConnection(chost, timeout=self._timeout)
        return self._connection[1]


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path, timeout=60.0):
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host):
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        self._connection = host, UnixHTTPConnection(self._path, timeout=self._timeout)
        return self._connection[1]


class Client:
    """One XML-RPC connection (kept alive) to the engine."""

    def __init__(self, url=None, unix_path=None, timeout=60.0, path="/"):
        if unix_path:
            self.transport_name = "unix"
            self.proxy = xmlrpc.client.ServerProxy(
                "http://_var_lib_xcon" + path, transport=_UnixTransport(unix_path, timeout), allow_none=True
            )
        else:
            self.transport_name = "tcp"
            self.proxy = xmlrpc.client.ServerProxy(url + path.lstrip("/") if url.endswith("/") else url + path,
                                                   transport=_TimeoutTransport(timeout), allow_none=True)

    def call(self, method, *args):
        return unwrap(getattr(self.proxy, method)(*args))

    def login(self, user="root", password="", *extra) -> "Session":
        ref = self.call("session.login_with_password", user, password, *extra)
        return Session(self, ref)

    def close(self):
        self.proxy("close")()


class _Dispatcher:
    def __init__(self, send, name=None):
        self._send = send
        self._name = name

    def __getattr__(self, name):
        return _Dispatcher(self._send, name if self._name is None else f"{self._name}.{name}")

    def __call__(self, *args):
        return self._send(self._name, *args)


class Session:
    def __init__(self, client: Client, ref: str):
        self.client = client
        self.ref = ref
        self.xenapi = _Dispatcher(self.call)

    def call(self, method, *args):
        return self.client.call(method, self.ref, *args)

    def logout(self):
        self.client.call("session.logout", self.ref)


def expect_failure(fn, *args, code=None, params=None):
    """Calls fn(*args), asserts it fails (with code/params if given) and
    returns the Failure."""
    try:
        r = fn(*args)
    except Failure as f:
        if code is not None:
            assert f.code == code, f"expected {code}, got {f.details}"
        if params is not None:
            assert f.params == [str(p) for p in params], f"expected {[code] + list(params)}, got {f.details}"
        return f
    raise AssertionError(f"expected failure {code} {params or ''}, got success {r!r}")


# --------------------------------------------------------------------------
# The engine process


class Engine:
    """One `xcon --headless` process on a private state directory.

    The unix socket lives in a short /tmp directory (sun_path has 108 bytes).
    stderr is collected by a thread (self.log) and mirrored into
    <workdir>/xcon.stderr for post-mortems."""

    def __init__(self, workdir, extra_args=(), state_dir=None, auth_fail_delay_ms=200, log_level="debug",
                 env=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = Path(state_dir) if state_dir else self.workdir / "state"
        self._sockdir = tempfile.mkdtemp(prefix="xce2e-", dir="/tmp")
        self.sock = os.path.join(self._sockdir, "xcon.sock")
        self.extra_args = list(extra_args)
        self.auth_fail_delay_ms = auth_fail_delay_ms
        self.log_level = log_level
        self.env = env
        self.proc = None
        self.port = None
        self.tcp_addr = None
        self._lines = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._reader = None
        self.runs = 0

    # ---- lifecycle
    def argv(self):
        a = [xcon_bin(), "--headless", "--state-dir", str(self.state_dir), "--socket", self.sock,
             "--listen", "127.0.0.1:0", "--backend", "sim"]
        if self.auth_fail_delay_ms is not None:
            a += ["--auth-fail-delay", str(self.auth_fail_delay_ms)]
        if self.log_level:
            a += ["--log-level", self.log_level]
        return a + self.extra_args

    def start(self, timeout=90.0):
        assert self.proc is None, "engine already running"
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        preload = asan_crypt_preload(self.argv()[0])
        if preload and "LD_PRELOAD" not in env:
            env["LD_PRELOAD"] = preload
        if self.env:
            env.update(self.env)
        self.runs += 1
        self._ready.clear()
        with self._lock:
            self._lines.append(f"===== run {self.runs}: {' '.join(self.argv())}\n")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self._reader = threading.Thread(target=self._read_stderr, args=(self.proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(5)
                rc = self.proc.returncode
                self.proc = None
                raise AssertionError(f"xcon exited with {rc} before listening:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"xcon did not print 'listening on' within {timeout}s:\n{self.log_tail()}")
        return self

    def _read_stderr(self, proc):
        pat = re.compile(r"listening on (\S+) and (\S+)")
        with open(self.workdir / "xcon.stderr", "a", encoding="utf-8", errors="replace") as mirror:
            for raw in iter(proc.stderr.readline, b""):
                line = raw.decode("utf-8", errors="replace")
                mirror.write(line)
                mirror.flush()
                with self._lock:
                    self._lines.append(line)
                if not self._ready.is_set():
                    m = pat.search(line)
                    if m:
                        addr = m.group(2)
                        host, _, port = addr.rpartition(":")
                        self.tcp_addr = addr
                        self.port = int(port)
                        self._ready.set()
        proc.stderr.close()

    @property
    def log(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def log_tail(self, n=60):
        with self._lock:
            return "".join(self._lines[-n:])

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60.0, check=True):
        """SIGTERM, wait, and (check) assert exit code 0 without a sanitizer
        report.  Returns the exit code."""
        if self.proc is None:
            return None
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self._reader.join(5)
            self.proc = None
            raise AssertionError(f"xcon did not exit within {timeout}s of SIGTERM:\n{self.log_tail()}")
        self._reader.join(10)
        self.proc = None
        if check:
            self.assert_clean()
            assert rc == 0, f"xcon exited with {rc} after SIGTERM:\n{self.log_tail()}"
        return rc

    def kill(self):
        """SIGKILL: the crash case, nothing asserted."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(10)
        self.proc = None

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    def assert_clean(self):
        log = self.log
        for mark in SANITIZER_MARKS:
            assert mark not in log, f"sanitizer report in xcon's stderr ({mark!r}):\n{self._around(mark)}"

    def _around(self, mark, ctx=80):
        lines = self.log.splitlines()
        for i, l in enumerate(lines):
            if mark in l:
                return "\n".join(lines[max(0, i - 5): i + ctx])
        return ""

    def cleanup(self):
        shutil.rmtree(self._sockdir, ignore_errors=True)

    # ---- clients
    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def client(self, transport="tcp", timeout=60.0, path="/") -> Client:
        if transport == "unix":
            return Client(unix_path=self.sock, timeout=timeout, path=path)
        return Client(url=f"http://127.0.0.1:{self.port}", timeout=timeout, path=path)

    def guest_console(self, host, timeout=10.0) -> "GuestConsole":
        """The text console of the running guest whose hostname is host."""
        return GuestConsole.find(self, host, timeout)

    def local_session(self, timeout=60.0) -> Session:
        """root over the unix socket: trusted, no password."""
        return self.client("unix", timeout).login("root", "")

    def login(self, user, password, transport="tcp", timeout=60.0) -> Session:
        return self.client(transport, timeout).login(user, password)

    def json(self, timeout=60.0) -> "JsonClient":
        return JsonClient(self.port, timeout=timeout)

    def raw(self, timeout=30.0) -> "RawHTTP":
        return RawHTTP(port=self.port, timeout=timeout)


# --------------------------------------------------------------------------
# JSON-RPC


class JsonClient:
    def __init__(self, port, timeout=60.0, path="/jsonrpc"):
        self.port = port
        self.path = path
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.next_id = 1

    def post(self, body, content_type="application/json"):
        """Posts raw bytes/str; returns (status, headers dict lower-case, bytes)."""
        if isinstance(body, str):
            body = body.encode()
        self.conn.request("POST", self.path, body=body, headers={"Content-Type": content_type})
        r = self.conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def request(self, method, params, v2=False, id=None):
        """One request; returns the decoded reply object."""
        if id is None:
            id = self.next_id
            self.next_id += 1
        req = {"method": method, "params": params, "id": id}
        if v2:
            req["jsonrpc"] = "2.0"
        status, headers, data = self.post(json.dumps(req))
        assert status == 200, f"JSON-RPC HTTP status {status}: {data[:500]!r}"
        assert headers.get("content-type") == "application/json", headers
        return json.loads(data)

    def call(self, method, *params, v2=True):
        """Result, or Failure from either framing's error."""
        r = self.request(method, list(params), v2=v2)
        if v2:
            if "error" in r:
                e = r["error"]
                raise Failure([e["message"]] + list(e.get("data", [])))
            return r["result"]
        if r.get("error") is not None:
            raise Failure(r["error"])
        return r["result"]

    def close(self):
        self.conn.close()


# --------------------------------------------------------------------------
# Raw HTTP


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: dict
    body: bytes
    raw_headers: list = field(default_factory=list)

    def header(self, name):
        return self.headers.get(name.lower())


class RawHTTP:
    """A socket speaking HTTP/1.1 by hand: whatever bytes a test wants out,
    and a strict reader for what comes back."""

    def __init__(self, port=None, unix_path=None, timeout=30.0):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(unix_path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def request(self, method, path, body=b"", headers=None, content_length=None):
        if isinstance(body, str):
            body = body.encode()
        h = {"Host": "localhost"}
        if method in ("POST", "PUT", "PATCH") or body:
            h["Content-Type"] = "text/xml"
            h["Content-Length"] = str(len(body) if content_length is None else content_length)
        if headers:
            h.update(headers)
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.send(head.encode() + body)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def _readline(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, head=False) -> RawResponse:
        status_line = self._readline().decode("latin-1")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", status_line)
        assert m, f"bad status line {status_line!r}"
        headers, raw = {}, []
        while True:
            line = self._readline().decode("latin-1")
            if not line:
                break
            k, _, v = line.partition(":")
            raw.append((k, v.strip()))
            headers[k.strip().lower()] = v.strip()
        body = b""
        if head:
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._readline().split(b";")[0], 16)
                if size == 0:
                    self._readline()
                    break
                body += self._readn(size)
                self._readline()
        elif "content-length" in headers:
            body = self._readn(int(headers["content-length"]))
        else:
            try:
                while True:
                    self._fill()
            except (ConnectionError, OSError):
                pass
            body, self.buf = self.buf, b""
        return RawResponse(int(m.group(1)), m.group(2), headers, body, raw)

    def exchange(self, method, path, body=b"", headers=None) -> RawResponse:
        self.request(method, path, body, headers)
        return self.response(head=(method == "HEAD"))

    def closed_by_peer(self, timeout=5.0) -> bool:
        """True once the server has closed its side (EOF)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def xml_call(method, *params_xml) -> bytes:
    """A methodCall with already-encoded <value> params."""
    p = "".join(f"<param>{v}</param>" for v in params_xml)
    return (f'<?xml version="1.0"?><methodCall><methodName>{method}</methodName>'
            f"<params>{p}</params></methodCall>").encode()


def xs(s) -> str:
    """An untyped string <value>, escaped."""
    return "<value>" + s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</value>"


def decode_reply(body: bytes):
    """Parses an XML-RPC methodResponse; returns its single param."""
    params, _ = xmlrpc.client.loads(body)
    assert len(params) == 1, params
    return params[0]


# --------------------------------------------------------------------------
# The datamodel, parsed from dm/def/*.def


@dataclass
class DMField:
    cls: str
    name: str
    type: tuple
    qual: str          # RO, RO_C, RW
    default: str | None
    reverse: bool = False
    partner: tuple | None = None   # (class, field) for reverse sets


@dataclass
class DMMessage:
    cls: str
    name: str
    result: tuple
    flags: set
    params: list       # [(type, name, optional)]

    @property
    def wire(self):
        return f"{self.cls}.{self.name}"


@dataclass
class DMClass:
    name: str
    flags: set
    fields: list = field(default_factory=list)
    custom: dict = field(default_factory=dict)    # name -> DMMessage

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def has_records(self):
        return "DM_C_NO_RECORDS" not in self.flags


def parse_type(spec: str):
    toks = spec.split()
    pos = 0

    def one():
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t in ("string", "int", "float", "bool", "datetime", "struct", "void"):
            return (t,)
        if t in ("ref", "enum", "record"):
            n = toks[pos]
            pos += 1
            return (t, n)
        if t == "set":
            return ("set", one())
        if t == "map":
            k = one()
            v = one()
            return ("map", k, v)
        raise ValueError(f"bad type {spec!r}")

    t = one()
    assert pos == len(toks), spec
    return t


def type_str(t) -> str:
    if t[0] in ("set",):
        return f"set {type_str(t[1])}"
    if t[0] == "map":
        return f"map {type_str(t[1])} {type_str(t[2])}"
    return " ".join(t)


_STR = r'"((?:[^"\\]|\\.)*)"'
_CLASS_RE = re.compile(r"^CLASS\((\w+),\s*([^,]+),\s*" + _STR + r"\)", re.M)
_FIELD_RE = re.compile(r"^FIELD\((\w+),\s*(\w+),\s*" + _STR + r",\s*(RO_C|RO|RW),\s*(NULL|" + _STR[:-1] + r'"),\s*' + _STR + r"\)", re.M)
_REVERSE_RE = re.compile(r"^REVERSE\((\w+),\s*(\w+),\s*(\w+),\s*(\w+),\s*" + _STR + r"\)", re.M)
_MESSAGE_RE = re.compile(r"^MESSAGE\((\w+),\s*(\w+),\s*" + _STR + r",\s*([^,]+),\s*" + _STR + r",\s*" + _STR + r"\)", re.M)
_ENUM_RE = re.compile(r"^ENUM\((\w+),\s*" + _STR + r"\)", re.M)


class Datamodel:
    def __init__(self, root=REPO / "dm"):
        self.classes: dict[str, DMClass] = {}
        self.enums: dict[str, list] = {}
        for m in _ENUM_RE.finditer((root / "enums.def").read_text()):
            self.enums[m.group(1)] = m.group(2).split()
        order = re.findall(r'#include "def/(\w+)\.def"', (root / "classes.def").read_text())
        for name in order:
            text = (root / "def" / f"{name}.def").read_text()
            self._parse(text)
        self._check()

    def _parse(self, text):
        # Rows in file order: collect (pos, kind, match) so fields keep order.
        rows = []
        for kind, rx in (("class", _CLASS_RE), ("field", _FIELD_RE), ("reverse", _REVERSE_RE), ("message", _MESSAGE_RE)):
            rows += [(m.start(), kind, m) for m in rx.finditer(text)]
        rows.sort(key=lambda r: r[0])
        nrows = len(re.findall(r"^(CLASS|FIELD|REVERSE|MESSAGE)\(", text, re.M))
        assert len(rows) == nrows, f"the .def parser missed {nrows - len(rows)} rows"
        for _, kind, m in rows:
            if kind == "class":
                flags = {f.strip() for f in m.group(2).split("|")} - {"0"}
                self.classes[m.group(1)] = DMClass(m.group(1), flags)
            elif kind == "field":
                d = m.group(5)
                default = None if d == "NULL" else d[1:-1]
                self.classes[m.group(1)].fields.append(
                    DMField(m.group(1), m.group(2), parse_type(m.group(3)), m.group(4), default))
            elif kind == "reverse":
                self.classes[m.group(1)].fields.append(
                    DMField(m.group(1), m.group(2), ("set", ("ref", m.group(3))), "RO", None, True,
                            (m.group(3), m.group(4))))
            else:
                params = []
                for part in m.group(5).split(";"):
                    part = part.strip()
                    if not part:
                        continue
                    typ, _, name = part.rpartition(" ")
                    opt = name.endswith("?")
                    params.append((parse_type(typ), name.rstrip("?"), opt))
                flags = {f.strip() for f in m.group(4).split("|")} - {"0"}
                self.classes[m.group(1)].custom[m.group(2)] = DMMessage(
                    m.group(1), m.group(2), parse_type(m.group(3)), flags, params)

    def _check(self):
        assert "VM" in self.classes and self.classes["VM"].field("name_label")

    # ---- generated messages, by dm.c's rules
    def generated(self, cname) -> dict:
        """name -> (kind, field) for the generated messages of a class that
        no custom MESSAGE row replaces."""
        c = self.classes[cname]
        out = {}
        if not c.has_records:
            return out
        if "DM_C_NO_GET_ALL" not in c.flags:
            out["get_all"] = ("get_all", None)
            out["get_all_records"] = ("get_all_records", None)
            out["get_all_where"] = ("get_all_where", None)
            out["get_all_records_where"] = ("get_all_records_where", None)
        out["get_record"] = ("get_record", None)
        out["get_by_uuid"] = ("get_by_uuid", None)
        if c.field("name_label") and "DM_C_NO_NAME_GET" not in c.flags:
            out["get_by_name_label"] = ("get_by_name_label", None)
        if "DM_C_CTOR" in c.flags:
            out["create"] = ("create", None)
        if "DM_C_DTOR" in c.flags:
            out["destroy"] = ("destroy", None)
        for f in c.fields:
            out.setdefault(f"get_{f.name}", ("get", f))
            if f.qual != "RW":
                continue
            out.setdefault(f"set_{f.name}", ("set", f))
            if f.type[0] == "map":
                out.setdefault(f"add_to_{f.name}", ("add_to", f))
                out.setdefault(f"remove_from_{f.name}", ("remove_from", f))
            elif f.type[0] == "set":
                out.setdefault(f"add_{f.name}", ("add", f))
                out.setdefault(f"remove_{f.name}", ("remove", f))
        for name in c.custom:
            out.pop(name, None)
        return out

    def all_wire_names(self) -> set:
        names = set()
        for cname, c in self.classes.items():
            names |= {f"{cname}.{n}" for n in self.generated(cname)}
            names |= {f"{cname}.{n}" for n in c.custom}
        return names

    def async_names(self) -> set:
        out = set()
        for cname, c in self.classes.items():
            for n in self.generated(cname):
                if n in ("create", "destroy"):
                    out.add(f"{cname}.{n}")
            for n, m in c.custom.items():
                if "DM_M_ASYNC" in m.flags:
                    out.add(f"{cname}.{n}")
        return out

    # ---- checking values from XML-RPC (xmlrpc.client's decoding)
    def check_xml(self, t, v, where="value", refs_of=None):
        """Asserts v (as xmlrpc.client decodes xcon's reply) has datamodel
        type t.  ints arrive untyped, i.e. as decimal strings."""
        k = t[0]
        if k in ("string",):
            assert isinstance(v, str), f"{where}: expected string, got {v!r}"
        elif k == "int":
            assert isinstance(v, str) and re.fullmatch(r"-?\d+", v), f"{where}: expected an untyped int, got {v!r}"
        elif k == "float":
            assert isinstance(v, float) and not isinstance(v, bool), f"{where}: expected <double>, got {v!r}"
        elif k == "bool":
            assert isinstance(v, bool), f"{where}: expected <boolean>, got {v!r}"
        elif k == "datetime":
            assert isinstance(v, xmlrpc.client.DateTime), f"{where}: expected dateTime.iso8601, got {v!r}"
            assert DATETIME_RE.fullmatch(v.value), f"{where}: datetime {v.value!r} not YYYYMMDDTHH:MM:SSZ"
        elif k == "ref":
            assert isinstance(v, str) and (v == NULL_REF or REF_RE.fullmatch(v)), f"{where}: expected ref {t[1]}, got {v!r}"
            if refs_of is not None and v != NULL_REF:
                known = refs_of(t[1])
                if known is not None:
                    assert v in known, f"{where}: {v} is not a live {t[1]}"
        elif k == "enum":
            assert isinstance(v, str) and v in self.enums[t[1]], f"{where}: {v!r} not in enum {t[1]}"
        elif k == "set":
            assert isinstance(v, list), f"{where}: expected array, got {v!r}"
            for i, e in enumerate(v):
                self.check_xml(t[1], e, f"{where}[{i}]", refs_of)
        elif k == "map":
            assert isinstance(v, dict), f"{where}: expected struct, got {v!r}"
            for key, e in v.items():
                assert isinstance(key, str)
                kt = t[1]
                if kt[0] == "int":
                    assert re.fullmatch(r"-?\d+", key), f"{where}: key {key!r} not an int"
                elif kt[0] == "enum":
                    assert key in self.enums[kt[1]], f"{where}: key {key!r} not in enum {kt[1]}"
                self.check_xml(t[2], e, f"{where}[{key!r}]", refs_of)
        elif k == "record":
            self.check_record(t[1], v, where, refs_of)
        elif k == "struct":
            assert isinstance(v, dict), f"{where}: expected struct, got {v!r}"
        elif k == "void":
            assert v == "", f"{where}: void result must be an empty string, got {v!r}"
        else:
            raise AssertionError(f"unknown type {t}")

    def check_record(self, cname, rec, where=None, refs_of=None):
        where = where or cname
        c = self.classes[cname]
        assert isinstance(rec, dict), f"{where}: expected a record struct, got {rec!r}"
        names = [f.name for f in c.fields]
        assert list(rec.keys()) == names, (
            f"{where}: record fields differ from the datamodel\n"
            f"  missing: {[n for n in names if n not in rec]}\n"
            f"  extra:   {[n for n in rec if n not in names]}\n"
            f"  order ok: {sorted(rec) == sorted(names)}")
        for f in c.fields:
            self.check_xml(f.type, rec[f.name], f"{where}.{f.name}", refs_of)
        if "uuid" in rec:
            assert UUID_RE.fullmatch(rec["uuid"]), f"{where}.uuid {rec['uuid']!r} is not a lowercase uuid"


# --------------------------------------------------------------------------
# Guest consoles of the simulated host


def process_ptys(pid) -> set:
    """The /dev/pts/N paths process pid has open."""
    out = set()
    fddir = f"/proc/{pid}/fd"
    for fd in os.listdir(fddir):
        try:
            target = os.readlink(f"{fddir}/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/pts/"):
            out.add(target)
    return out


class GuestConsole:
    """A simulated guest's text console: the real pty the sim backend makes
    for each domain (hv/hv_sim_console.c).  No API hands out its path (a VM's
    console record is the rfb URL), so find() picks it among the engine's open
    /dev/pts/N by the guest's hostname (its VM's name_label, made safe) in the
    login or shell prompt.  The guest drops input until it has booted."""

    _open = set()   # paths some GuestConsole holds: find() leaves them alone

    def __init__(self, path, host):
        self.path = path
        self.host = host
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        GuestConsole._open.add(path)
        self.buf = ""

    @classmethod
    def find(cls, engine, host, timeout=10.0) -> "GuestConsole":
        prompt = re.compile(rf"(?:{re.escape(host)} login: |root@{re.escape(host)}:~# )")
        deadline = time.monotonic() + timeout
        while True:
            cands = {}
            try:
                for p in sorted(process_ptys(engine.pid) - cls._open):
                    try:
                        c = cls(p, host)
                    except OSError:
                        continue
                    cands[p] = c
                    c.send("\x15\r")   # ^U, Enter: a fresh prompt in every stage
                end = min(deadline, time.monotonic() + 2.0)
                while cands and time.monotonic() < end:
                    for p, c in list(cands.items()):
                        c._fill(0.02)
                        if prompt.search(c.buf):
                            del cands[p]
                            return c
            finally:
                for c in cands.values():
                    c.close()
            if time.monotonic() > deadline:
                raise AssertionError(f"no console pty of the xcon process shows a prompt of guest {host!r} "
                                     f"within {timeout}s")

    def _fill(self, wait):
        import select
        r, _, _ = select.select([self.fd], [], [], wait)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        except OSError as ex:   # EIO: the domain and its console are gone
            raise ConnectionError(f"console {self.path} of {self.host}: {ex}") from ex
        self.buf += data.decode("utf-8", "replace")
        return True

    def send(self, text):
        os.write(self.fd, text.encode())

    def expect(self, regex, timeout=10.0):
        """Waits until regex matches the output read so far; returns the
        match and drops the output up to its end."""
        rx = re.compile(regex, re.S) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"console of {self.host}: no {rx.pattern!r} within {timeout}s; "
                                     f"got {self.buf[-400:]!r}")
            self._fill(0.05)

    def shell(self, timeout=10.0):
        """Logs in as root if the guest shows its login prompt."""
        self.buf = ""
        self.send("\x15\r")
        h = re.escape(self.host)
        m = self.expect(rf"({h} login: |root@{h}:~# )$", timeout)
        if "login" in m.group(1):
            self.send("root\r")
            self.expect(r"Password: $", timeout)
            self.send("secret\r")
            self.expect(rf"root@{h}:~# $", timeout)
        return self

    def run(self, cmd, timeout=10.0) -> str:
        """Runs a command at the shell prompt; returns its output lines."""
        self.buf = ""
        self.send(cmd + "\r")
        m = self.expect(rf"{re.escape(cmd)}\r\n(.*?)root@{re.escape(self.host)}:~# $", timeout)
        return m.group(1).replace("\r\n", "\n")

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            GuestConsole._open.discard(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
