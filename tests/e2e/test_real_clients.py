"""Real XenAPI clients, unmodified, against the engine:

(a) Debian's python3-os-xenapi (an old copy of the official XenAPI.py, as
    OpenStack shipped it: `from os_xenapi.client import XenAPI`) over TCP
    with a real PAM login, and its Session over the unix socket the way
    XenAPI.xapi_local() does it;
(b) Xen Orchestra's npm `xen-api` 4.7.6 (tests/clients, pinned in
    package-lock.json) over JSON-RPC and over XML-RPC, driven by
    tests/clients/xo_check.mjs, which prints one PASS/FAIL line per check.

What each client does on the wire: /work/shared/reference/clients-and-peers.md
§A1 and §A2.  The engine holds enough VMs that VM.get_all_records is
streamed (chunked, see rpc/README.md) in both protocols, so every client
here reads a streamed reply too."""
import os
import re
import subprocess
import time
import xmlrpc.client

import pytest

from xconlib import REF_RE, expect_failure, xml_call

# ~5 KB of XML, ~1.7 KB of JSON each: VM.get_all_records past the 256 KB
# streaming mark in both protocols
BULK_VMS = 250

# a fixed-size simulated host: the same memory figures on every machine
ENGINE_ENV = {"XCON_SIM_TIME_SCALE": "0.01", "XCON_SIM_HOST_MEMORY": "32G"}

XO_CHECKS = ["connect", "fetch-all", "list-vms", "error-handle-invalid", "error-method-unknown", "barrier",
             "async-start", "vm-running-in-cache", "error-bad-power-state", "async-error-bad-power-state",
             "async-hard-shutdown", "tasks-destroyed", "disconnect"]


@pytest.fixture(scope="module", autouse=True)
def bulk_vms(root):
    for i in range(BULK_VMS):
        root.call("VM.create", {"name_label": f"bulk-{i}", "PV_args": "", "memory_static_max": "268435456"})


def test_vm_records_are_streamed_here(engine, root):
    c = engine.raw(timeout=60)
    c.request("POST", "/", xml_call("VM.get_all_records", f"<value>{root.ref}</value>"))
    assert c.response().header("transfer-encoding") == "chunked"
    c.request("POST", "/jsonrpc", f'{{"method":"VM.get_all_records","params":["{root.ref}"],"id":1}}')
    assert c.response().header("transfer-encoding") == "chunked"
    c.sock.close()


@pytest.fixture(scope="module")
def XenAPI():
    try:
        from os_xenapi.client import XenAPI as mod
    except ImportError as ex:
        pytest.skip(f"python3-os-xenapi is not installed (tools/install-deps installs it): {ex}")
    assert mod.__file__.startswith("/usr/lib/python3/dist-packages/"), \
        f"expected Debian's unmodified package, got {mod.__file__}"
    return mod


def halted_vm(root, name):
    recs = root.call("VM.get_all_records")
    tmpl = next(r for r, v in recs.items() if v["is_a_template"] and v["name_label"] == "Debian Etch 4.0")
    vm = root.call("VM.clone", tmpl, name)
    root.call("VM.provision", vm)
    return vm


# ---------------------------------------------------------------------------
# (a) python3-os-xenapi


def exercise_os_xenapi(XenAPI, session, root, vm_name):
    """What a XenAPI.py script does: read everything, start a VM through
    Async and poll its task, handle a Failure."""
    x = session.xenapi
    assert session.API_version == "1.2", "the binding asks pool.get_master + host.get_API_version_* at login"
    recs = x.VM.get_all_records()
    assert isinstance(recs, dict) and all(REF_RE.fullmatch(r) for r in recs)
    assert any(v["is_control_domain"] for v in recs.values())
    vm = next(r for r, v in recs.items() if v["name_label"] == vm_name)
    assert recs[vm]["power_state"] == "Halted"

    task = x.Async.VM.start(vm, False, False)
    assert REF_RE.fullmatch(task), task
    assert x.task.get_name_label(task) == "Async.VM.start"
    deadline = time.monotonic() + 20
    while x.task.get_status(task) == "pending":
        assert time.monotonic() < deadline, "Async.VM.start still pending after 20 s"
        time.sleep(0.02)
    assert x.task.get_status(task) == "success", x.task.get_error_info(task)
    assert x.task.get_result(task) == "<value></value>"
    assert float(x.task.get_progress(task)) == 1.0
    x.task.destroy(task)
    assert x.VM.get_power_state(vm) == "Running"

    bogus = "OpaqueRef:00000000-0000-4000-8000-000000000000"
    with pytest.raises(XenAPI.Failure) as exc:
        x.VM.get_record(bogus)
    assert exc.value.details == ["HANDLE_INVALID", "VM", bogus]
    assert "HANDLE_INVALID" in str(exc.value)
    with pytest.raises(XenAPI.Failure) as exc:
        x.VM.start(vm, False, False)
    assert exc.value.details[0] == "VM_BAD_POWER_STATE" and exc.value.details[1] == vm

    x.VM.hard_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"


@pytest.mark.parametrize("path", ["/", ""], ids=["slash", "rpc2"])
def test_os_xenapi_over_tcp(engine, root, pam_user, XenAPI, path):
    """Session("http://host:port/") posts to /, without a path to /RPC2."""
    user, password = pam_user
    name = f"osx-tcp{len(path)}"
    halted_vm(root, name)
    session = XenAPI.Session(f"http://127.0.0.1:{engine.port}{path}")
    session.login_with_password(user, password)
    ref = session.handle
    assert REF_RE.fullmatch(ref), ref
    exercise_os_xenapi(XenAPI, session, root, name)
    session.xenapi.session.logout()
    assert session.handle is None
    expect_failure(engine.client("tcp").call, "VM.get_all", ref, code="SESSION_INVALID", params=[ref])


def test_os_xenapi_bad_password(engine, pam_user, XenAPI):
    user, password = pam_user
    session = XenAPI.Session(f"http://127.0.0.1:{engine.port}/")
    with pytest.raises(XenAPI.Failure) as exc:
        session.login_with_password(user, password + "-wrong")
    assert exc.value.details[:2] == ["SESSION_AUTHENTICATION_FAILED", user]


def test_os_xenapi_over_the_unix_socket(engine, root, XenAPI, tmp_path):
    """xapi_local(): Session("http://_var_xapi_xapi/") with a transport
    that connects to the socket named by the host part ('_' -> '/'), as
    root with any password.  The module's own UDSTransport still has
    Python 2's send_request signature (a TypeError on Python 3), so a
    three-line Python 3 equivalent stands in when it fails; the Session
    class and everything above the transport are the module's."""
    link_dir = f"/tmp/xcuds{os.getpid()}x{time.monotonic_ns() % 10**6}"
    os.mkdir(link_dir)
    try:
        os.symlink(engine.sock, f"{link_dir}/xapi")
        url = "http://" + f"{link_dir}/xapi".replace("/", "_") + "/"
        session = XenAPI.Session(url, transport=XenAPI.UDSTransport())
        try:
            session.login_with_password("root", "")
        except TypeError as ex:
            assert "send_request" in str(ex), ex

            class Py3UDSTransport(xmlrpc.client.Transport):
                def make_connection(self, host):
                    return XenAPI.UDSHTTPConnection(host)

            session = XenAPI.Session(url, transport=Py3UDSTransport())
            session.login_with_password("root", "")
        name = "osx-unix"
        halted_vm(root, name)
        assert root.client.call("session.get_is_local_superuser", session.handle, session.handle) is True
        exercise_os_xenapi(XenAPI, session, root, name)
        ref = session.handle
        session.logout()
        expect_failure(root.client.call, "VM.get_all", ref, code="SESSION_INVALID", params=[ref])
    finally:
        for p in (f"{link_dir}/xapi",):
            if os.path.lexists(p):
                os.unlink(p)
        os.rmdir(link_dir)


# ---------------------------------------------------------------------------
# (b) Xen Orchestra's xen-api


@pytest.mark.parametrize("transport", ["json-rpc", "xml-rpc"])
def test_xen_orchestra_client(engine, root, pam_user, xo_client, transport):
    user, password = pam_user
    name = f"xo-{transport}"
    vm = halted_vm(root, name)
    tasks_before = set(root.call("task.get_all"))
    p = subprocess.run(["node", str(xo_client), "--url", f"http://127.0.0.1:{engine.port}", "--user", user,
                        "--password", password, "--transport", transport, "--vm", name, "--timeout", "30"],
                       capture_output=True, text=True, timeout=180, cwd=xo_client.parent)
    lines = p.stdout.splitlines()
    report = f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr[-3000:]}"
    results = {}
    for line in lines:
        m = re.match(r"^(PASS|FAIL) ([\w-]+)", line)
        assert m, f"xo_check printed a line that is not PASS/FAIL: {line!r}\n{report}"
        results[m.group(2)] = m.group(1)
    failed = [n for n, r in results.items() if r == "FAIL"]
    assert not failed, f"xen-api over {transport}: {failed} failed\n{report}"
    assert list(results) == XO_CHECKS, f"checks run: {list(results)}\n{report}"
    assert p.returncode == 0, report
    # what it did is visible on the server
    assert root.call("VM.get_power_state", vm) == "Halted"
    assert set(root.call("task.get_all")) <= tasks_before, "callAsync destroys its tasks"
