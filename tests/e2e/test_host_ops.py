"""VM.send_trigger, VDI.resize_online, session.change_password, and the
host's hypervisor calls (dmesg, dmesg_clear, send_debug_keys, get_log,
license_apply) on the simulated host."""
import base64
import secrets
import time

import pytest

from xconlib import expect_failure, etch_vm

ENGINE_ENV = {"XCON_SIM_TIME_SCALE": "0", "XCON_SIM_HOST_MEMORY": "32G"}


@pytest.fixture
def vm(x):
    vm = etch_vm(x, "ops")
    yield vm
    if x.VM.get_power_state(vm) != "Halted":
        x.VM.hard_shutdown(vm)
    x.VM.destroy(vm)


def host_of(x):
    return x.pool.get_master(x.pool.get_all()[0])


def test_send_trigger(x, vm):
    expect_failure(x.VM.send_trigger, vm, "nmi", code="VM_BAD_POWER_STATE")
    x.VM.start(vm, False, False)
    domid = x.VM.get_domid(vm)
    expect_failure(x.VM.send_trigger, vm, "bogus", code="INVALID_VALUE", params=["trigger", "bogus"])
    # A PV guest has no ACPI: the buttons need HVM.
    expect_failure(x.VM.send_trigger, vm, "power", code="VM_HVM_REQUIRED", params=[vm])
    x.VM.send_trigger(vm, "nmi")
    assert x.VM.get_power_state(vm) == "Running"
    assert x.VM.get_current_operations(vm) == {}
    # reset restarts the machine under the guest: a new domain.
    x.VM.send_trigger(vm, "reset")
    deadline = time.monotonic() + 20
    while x.VM.get_domid(vm) == domid and time.monotonic() < deadline:
        time.sleep(0.05)
    assert x.VM.get_domid(vm) != domid
    assert x.VM.get_power_state(vm) == "Running"


def test_send_sysrq_agrees(x, vm):
    expect_failure(x.VM.send_sysrq, vm, "h", code="VM_BAD_POWER_STATE")
    x.VM.start(vm, False, False)
    expect_failure(x.VM.send_sysrq, vm, "hh", code="INVALID_VALUE", params=["key", "hh"])
    x.VM.send_sysrq(vm, "h")
    assert x.VM.get_current_operations(vm) == {}


def test_resize_online(x, vm):
    vbd = next(v for v in x.VM.get_VBDs(vm) if x.VBD.get_type(v) == "Disk")
    vdi = x.VBD.get_VDI(vbd)
    size = int(x.VDI.get_virtual_size(vdi))
    assert "resize_online" in x.VDI.get_allowed_operations(vdi)
    x.VM.start(vm, False, False)
    x.VDI.resize_online(vdi, str(size + (64 << 20)))
    assert int(x.VDI.get_virtual_size(vdi)) == size + (64 << 20)
    # Offline resize is refused while in use; shrinking while in use too.
    expect_failure(x.VDI.resize, vdi, str(size * 2), code="VDI_IN_USE")
    f = expect_failure(x.VDI.resize_online, vdi, str(size), code="SR_BACKEND_FAILURE_79")
    assert int(x.VDI.get_virtual_size(vdi)) == size + (64 << 20)
    # The Async form, as for the others.
    task = x.Async.VDI.resize_online(vdi, str(size + (128 << 20)))
    deadline = time.monotonic() + 20
    while x.task.get_status(task) == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert x.task.get_status(task) == "success"
    assert int(x.VDI.get_virtual_size(vdi)) == size + (128 << 20)
    assert x.VDI.get_current_operations(vdi) == {}


def test_dmesg_and_debug_keys(x):
    host = host_of(x)
    assert "(XEN) Xen version" in x.host.dmesg(host)
    x.host.send_debug_keys(host, "q")
    text = x.host.dmesg_clear(host)
    assert "'q' pressed -> dump domain" in text
    assert x.host.dmesg(host) == ""
    expect_failure(x.host.send_debug_keys, host, "", code="INVALID_VALUE", params=["keys", ""])
    expect_failure(x.host.dmesg, "OpaqueRef:nope", code="HANDLE_INVALID")
    assert x.host.get_log(host) == ""


def licence(expiry, sku="XE Enterprise", signed=True, drop=None):
    attrs = {"sku_type": sku, "version": "4.1.0", "serialnumber": "SN-42", "sockets": "2",
             "productcode": "PC1", "expiry": str(expiry), "name": "Test", "company": "xcon"}
    if drop:
        del attrs[drop]
    el = "<xe_license " + " ".join(f'{k}="{v}"' for k, v in attrs.items()) + " />\n"
    if signed:
        el = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\n" + el +
              "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n")
    return base64.encodebytes(el.encode()).decode()


def test_license_apply(x):
    host = host_of(x)
    future = int(time.time()) + 86400 * 30
    x.host.license_apply(host, licence(future))
    params = x.host.get_license_params(host)
    assert params["sku_type"] == "XE Enterprise"
    assert params["serialnumber"] == "SN-42"
    assert params["sockets"] == "2"
    assert params["expiry"] == time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime(future))
    assert x.host.get_edition(host) == "XE Enterprise"
    for bad in ("!!!not base64", base64.b64encode(b"hello").decode(),
                licence(future, drop="serialnumber"), licence("soon")):
        expect_failure(x.host.license_apply, host, bad, code="LICENSE_PROCESSING_ERROR", params=[])
    expect_failure(x.host.license_apply, host, licence(int(time.time()) - 10, sku="XE Express"),
                   code="LICENSE_EXPIRED", params=[])
    # A refused licence changed nothing.
    assert x.host.get_license_params(host)["sku_type"] == "XE Enterprise"


def test_change_password_on_trusted_session(x, root):
    expect_failure(x.session.change_password, "a", "b", code="USER_IS_NOT_LOCAL_SUPERUSER")


def test_change_password_through_pam(engine, own_user):
    user, pw = own_user
    s = engine.login(user, pw)
    expect_failure(s.call, "session.change_password", "wrong-" + pw, "Other-" + pw,
                   code="SESSION_AUTHENTICATION_FAILED", params=[user, "Authentication failure"])
    new = "Nw-" + secrets.token_urlsafe(14)
    s.call("session.change_password", pw, new)
    # The new password logs in, the old one no longer does.
    engine.login(user, new).logout()
    expect_failure(engine.client("tcp").call, "session.login_with_password", user, pw,
                   code="SESSION_AUTHENTICATION_FAILED")
    s.logout()
