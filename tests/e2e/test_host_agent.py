"""host.bugreport_upload (a report PUT to a URL by curl, through a proxy
when asked, with xapi's errors) and host.restart_agent (the engine re-executes
itself on the same sockets and pid; simulated guests end Halted)."""
import http.server
import os
import socket
import sqlite3
import threading

import pytest

from xconlib import expect_failure, wait_for, etch_vm

ENGINE_ENV = {"XCON_SIM_TIME_SCALE": "0", "XCON_SIM_HOST_MEMORY": "32G"}


class _Sink(http.server.BaseHTTPRequestHandler):
    """Takes PUTs: records (path, body) and answers the server's status."""

    protocol_version = "HTTP/1.1"  # answers curl's "Expect: 100-continue" at once

    def do_PUT(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.puts.append((self.path, body.decode("utf-8", "replace")))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sink():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    srv.puts, srv.status = [], 200
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_of(x):
    return x.pool.get_master(x.pool.get_all()[0])


def no_report_files(engine):
    return [f for f in os.listdir(engine.state_dir) if f.startswith("bugreport-")]


def test_bugreport_upload_puts_the_report(engine, x, sink):
    host = host_of(x)
    x.VM.create({"name_label": "bugreport-marker"})
    url = f"http://127.0.0.1:{sink.server_port}/uploads/report-1"
    assert x.host.bugreport_upload(host, url, {}) == ""
    assert len(sink.puts) == 1
    path, body = sink.puts[0]
    assert path == "/uploads/report-1"
    assert body.startswith("xcon bug report\n")
    assert "\n== versions ==\nxcon: " in body and "backend: sim" in body
    assert f"uuid: {x.host.get_uuid(host)}\n" in body
    assert f"hostname: {x.host.get_hostname(host)}\n" in body
    counts = dict(l.split(": ") for l in body.split("== objects per class ==\n")[1].split("\n\n")[0].splitlines())
    assert int(counts["VM"]) == len(x.VM.get_all())
    assert int(counts["host"]) == 1
    assert "\n== hypervisor dmesg ==\n(XEN) " in body
    assert x.host.dmesg(host).splitlines()[0] in body
    assert "\n== engine log ==\n" in body
    assert body.endswith("\n== database integrity_check ==\nok\n")
    assert no_report_files(engine) == []


def test_bugreport_upload_honours_http_proxy(x, sink):
    # The URL's host does not resolve: only the proxy (our sink) can take it.
    url = "http://bugreport.invalid/up/r2"
    task = x.Async.host.bugreport_upload(host_of(x), url, {"http_proxy": f"http://127.0.0.1:{sink.server_port}"})
    wait_for(lambda: x.task.get_status(task) != "pending", what="the upload task")
    assert x.task.get_status(task) == "success", x.task.get_error_info(task)
    assert [p for p, _ in sink.puts] == [url]  # a proxy gets the absolute URL
    assert "xcon bug report" in sink.puts[0][1]


def test_bugreport_upload_failures(engine, x, sink):
    host = host_of(x)
    expect_failure(x.host.bugreport_upload, host, f"http://127.0.0.1:{closed_port()}/r", {},
                   code="INTERNAL_ERROR", params=["Failed to connect to host"])
    expect_failure(x.host.bugreport_upload, host, "nosuchscheme://x/y", {},
                   code="INTERNAL_ERROR", params=["URL not recognised"])
    sink.status = 500
    f = expect_failure(x.host.bugreport_upload, host, f"http://127.0.0.1:{sink.server_port}/r", {},
                       code="INTERNAL_ERROR")
    assert "curl exited with 22" in f.params[0]
    expect_failure(x.host.bugreport_upload, "OpaqueRef:nope", "http://127.0.0.1:1/", {},
                   code="HANDLE_INVALID", params=["host", "OpaqueRef:nope"])
    assert no_report_files(engine) == []


def listening_inodes(port, sock_path):
    """The socket inodes of the TCP listener on port and the unix one at path."""
    tcp = {int(l.split()[9]) for l in open("/proc/net/tcp").read().splitlines()[1:]
           if l.split()[1].endswith(f":{port:04X}") and l.split()[3] == "0A"}
    # Flags 00010000: accepting (accepted connections show the path too).
    unix = {int(l.split()[6]) for l in open("/proc/net/unix").read().splitlines()[1:]
            if l.split()[-1] == sock_path and l.split()[3] == "00010000"}
    return tcp, unix


def fresh_login(e, user=None):
    """A new session on the TCP address (PAM, as user) or the unix socket,
    or None while nothing answers there."""
    try:
        return e.login(*user, timeout=5) if user else e.local_session(timeout=5)
    except OSError:
        return None


def test_restart_agent_reexecutes_in_place(make_engine, pam_user):
    e = make_engine(env=ENGINE_ENV)
    s = e.local_session()
    x = s.xenapi
    host = host_of(x)
    vm = etch_vm(x, "agent-restart")
    x.VM.start(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
    pid, port = e.pid, e.port
    before = listening_inodes(port, e.sock)
    assert all(len(v) == 1 for v in before), before
    runs = e.log.count("xcon: listening on")

    tcp = e.client("tcp", timeout=15)
    assert tcp.call("host.restart_agent", s.ref, host) == ""

    wait_for(lambda: e.log.count("xcon: listening on") > runs, timeout=60, what="the re-executed engine")
    t2 = wait_for(lambda: fresh_login(e, pam_user), timeout=30, what="a TCP login after the restart")
    last = [l for l in e.log.splitlines() if "xcon: listening on" in l][-1]
    assert last.endswith(f" and 127.0.0.1:{port}"), last  # the new image's own line
    assert e.pid == pid and e.running()
    assert listening_inodes(port, e.sock) == before  # the same sockets, not new ones
    assert t2.xenapi.session.get_this_host(t2.ref) == host
    s2 = e.local_session()
    # The simulated guest lived in the old image: reconciled to Halted.
    y = s2.xenapi
    assert y.VM.get_power_state(vm) == "Halted"
    assert y.VM.get_resident_on(vm) == "OpaqueRef:NULL"
    assert y.VM.get_name_label(vm) == "agent-restart"
    dom0 = [r for r, v in y.VM.get_all_records().items() if v["is_control_domain"]]
    assert [y.VM.get_power_state(r) for r in dom0] == ["Running"]
    # The session from before is still valid (sessions live in the database).
    assert x.session.get_this_host(s.ref) == host
    y.VM.start(vm, False, False)
    assert y.VM.get_power_state(vm) == "Running"
    con = sqlite3.connect(f"file:{e.state_dir}/xcon.db?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()
    assert e.stop() == 0  # SIGTERM still stops the re-executed engine


def test_async_restart_agent_task_succeeds(make_engine):
    e = make_engine(env=ENGINE_ENV)
    s = e.local_session()
    x = s.xenapi
    runs = e.log.count("xcon: listening on")
    task = x.Async.host.restart_agent(host_of(x))
    wait_for(lambda: e.log.count("xcon: listening on") > runs, timeout=60, what="the re-executed engine")
    s2 = wait_for(lambda: fresh_login(e), timeout=30, what="a login after the restart")
    assert s2.xenapi.task.get_status(task) == "success"
