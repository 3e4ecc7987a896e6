"""Storage, networks and hosts that really operate, on the simulated host.

Each test drives a real `xcon --headless --backend sim` (time scale 0, so
guests boot at once) through XML-RPC as a XenServer 4.1 client would, and
checks the records, the files of the SR directories, the errors with their
parameters, and, through the simulated guest's console (a real pty), what
reached the backend.
"""
from __future__ import annotations

import os
import re
import select
import time
from pathlib import Path

import pytest

import xconlib
from xconlib import NULL_REF, Failure, expect_failure, wait_for

SIM_ENV = {"XCON_SIM_TIME_SCALE": "0"}
TEMPLATE = "Debian Etch 4.0"
GiB = 1 << 30


def _engine(tmp_path_factory, name, extra_args=()):
    e = xconlib.Engine(tmp_path_factory.mktemp(name), extra_args=extra_args, env=SIM_ENV)
    e.start()
    return e


def _finish(e):
    try:
        e.stop()
    finally:
        e.cleanup()


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    e = _engine(tmp_path_factory, "storage_network")
    yield e
    _finish(e)


@pytest.fixture(scope="module")
def x(eng):
    return eng.local_session().xenapi


@pytest.fixture
def fresh(tmp_path_factory):
    """An engine of the test's own (host power changes everything)."""
    made = []

    def make(extra_args=()):
        e = _engine(tmp_path_factory, "own", extra_args)
        made.append(e)
        return e, e.local_session().xenapi

    yield make
    for e in made:
        _finish(e)


# ---------------------------------------------------------------- helpers

def host_of(x):
    return x.host.get_all()[0]


def local_sr(x, host=None):
    for ref, r in x.SR.get_all_records().items():
        if r["name_label"] == "Local storage" and (host is None or any(
                x.PBD.get_host(p) == host for p in r["PBDs"])):
            return ref
    raise AssertionError("no Local storage SR")


def sr_dir(x, sr):
    for pbd in x.SR.get_PBDs(sr):
        loc = x.PBD.get_device_config(pbd).get("location")
        if loc:
            return Path(loc)
    raise AssertionError(f"SR {sr} has no location")


def vdi_path(x, vdi):
    return sr_dir(x, x.VDI.get_SR(vdi)) / x.VDI.get_location(vdi)


def assert_true_to_file(x, vdi):
    st = os.stat(vdi_path(x, vdi))
    rec = x.VDI.get_record(vdi)
    assert int(rec["virtual_size"]) == st.st_size
    assert int(rec["physical_utilisation"]) == st.st_blocks * 512


def new_vm(x, name, start=True):
    tpl = x.VM.get_by_name_label(TEMPLATE)
    assert tpl, f"template {TEMPLATE!r} is missing"
    vm = x.VM.clone(tpl[0], name)
    x.VM.provision(vm)
    if start:
        x.VM.start(vm, False, False)
        assert x.VM.get_power_state(vm) == "Running"
    return vm


def new_vdi(x, sr, size=GiB, name="disk", **kw):
    rec = {"name_label": name, "name_description": "", "SR": sr, "virtual_size": str(size), "type": "user",
           "sharable": False, "read_only": False, "other_config": {}}
    rec.update(kw)
    return x.VDI.create(rec)


def new_vbd(x, vm, vdi, userdevice="autodetect", type="Disk", mode="RW", empty=False, **kw):
    rec = {"VM": vm, "VDI": vdi, "userdevice": userdevice, "bootable": False, "mode": mode, "type": type,
           "empty": empty, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}}
    rec.update(kw)
    return x.VBD.create(rec)


def new_vif(x, vm, net, device="1", mac="", other_config=None, mtu="1500"):
    return x.VIF.create({"device": device, "network": net, "VM": vm, "MAC": mac, "MTU": mtu,
                         "other_config": other_config or {}, "qos_algorithm_type": "",
                         "qos_algorithm_params": {}})


def enable_when_up(x, host):
    """host.enable once a rebooted host is back (HOST_OFFLINE until then)."""
    def attempt():
        try:
            x.host.enable(host)
            return True
        except Failure as f:
            if f.code != "HOST_OFFLINE":
                raise
            return False
    wait_for(attempt, timeout=60, what="the host to come back")


def physical_pif(x, host):
    for ref, r in x.PIF.get_all_records().items():
        if r["host"] == host and r["physical"] and r["VLAN"] == "-1":
            return ref, r
    raise AssertionError("no physical PIF")


def guest_network(x, host):
    """The network of the host's management (physical) interface."""
    return physical_pif(x, host)[1]["network"]


class Console:
    """The simulated guest's text console: the pty its backend made (the
    engine logs its path when the domain is created)."""

    def __init__(self, eng, vm_name):
        hits = re.findall(r"domain \d+ \(" + re.escape(vm_name) + r"\) created.*console (/dev/pts/\d+)", eng.log)
        if not hits:
            pytest.skip("the engine's log does not name the guest console's pty")
        self.fd = os.open(hits[-1], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = b""

    def close(self):
        os.close(self.fd)

    def read_until(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.buf):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"console: no {pattern!r} in {self.buf[-400:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.fd, 4096)
                except BlockingIOError:
                    pass
        m = re.search(pattern, self.buf)
        out, self.buf = self.buf[:m.end()], self.buf[m.end():]
        return out.decode("utf-8", "replace")

    def send(self, text):
        os.write(self.fd, text.encode())

    def login(self):
        self.send("\x03")  # back to a prompt, whatever the guest was doing
        out = self.read_until(rb"(login: |# )")
        if out.endswith("login: "):
            self.send("root\r")
            self.read_until(rb"Password: ")
            self.send("root\r")
            self.read_until(rb"# ")

    def run(self, cmd):
        self.buf = b""
        self.send(cmd + "\r")
        return self.read_until(rb"root@[^\r\n]*# ")


# ---------------------------------------------------------------- disks

def test_new_disk_hot_plugged_into_running_vm(eng, x):
    sr = local_sr(x)
    vm = new_vm(x, "hotplug-vm")
    vdi = new_vdi(x, sr, GiB, "data")
    rec = x.VDI.get_record(vdi)
    assert rec["location"].endswith(".img") and rec["managed"] and not rec["missing"]
    assert int(rec["virtual_size"]) == GiB
    assert_true_to_file(x, vdi)
    assert {"destroy", "resize", "clone", "snapshot"} <= set(rec["allowed_operations"])
    # The SR counts it.
    assert int(x.SR.get_virtual_allocation(sr)) >= GiB

    vbd = new_vbd(x, vm, vdi)
    r = x.VBD.get_record(vbd)
    # The SDK guide: the VBD exists, the guest sees nothing yet.
    assert r["currently_attached"] is False
    assert r["userdevice"].isdigit() and r["userdevice"] != "0"
    assert r["allowed_operations"] == ["plug"]
    assert vbd in x.VM.get_VBDs(vm) and vbd in x.VDI.get_VBDs(vdi)

    x.VBD.plug(vbd)
    r = x.VBD.get_record(vbd)
    assert r["currently_attached"] is True
    assert r["device"] == "xvd" + "abcdefghijklmnop"[int(r["userdevice"])]
    assert set(r["allowed_operations"]) == {"unplug", "unplug_force"}
    assert r["current_operations"] == {}
    expect_failure(x.VBD.plug, vbd, code="DEVICE_ALREADY_ATTACHED", params=[vbd])
    # In use by a running VM: the disk and its SR stay.
    expect_failure(x.VDI.destroy, vdi, code="VDI_IN_USE", params=[vdi, "destroy"])
    expect_failure(x.VDI.resize, vdi, str(2 * GiB), code="VDI_IN_USE", params=[vdi, "resize"])
    f = expect_failure(x.VBD.destroy, vbd, code="OPERATION_NOT_ALLOWED")
    assert "still attached" in f.params[0]
    assert "destroy" not in x.VDI.get_allowed_operations(vdi)

    con = Console(eng, "hotplug-vm")
    try:
        con.login()
        assert r["device"] in con.run("lsblk")
    finally:
        con.close()

    x.VBD.unplug(vbd)
    assert x.VBD.get_currently_attached(vbd) is False
    expect_failure(x.VBD.unplug, vbd, code="DEVICE_ALREADY_DETACHED", params=[vbd])
    assert "destroy" in x.VDI.get_allowed_operations(vdi)

    x.VBD.set_unpluggable(vbd, False)
    assert x.VBD.get_allowed_operations(vbd) == ["plug"]
    x.VBD.plug(vbd)
    assert x.VBD.get_allowed_operations(vbd) == ["unplug_force"]
    expect_failure(x.VBD.unplug, vbd, code="VBD_NOT_UNPLUGGABLE", params=[vbd])
    x.VBD.unplug_force(vbd)
    assert x.VBD.get_currently_attached(vbd) is False

    # Halted VMs: devices come and go with the VM, create/destroy are free.
    x.VBD.plug(vbd)
    x.VM.hard_shutdown(vm)
    assert x.VBD.get_currently_attached(vbd) is False
    expect_failure(x.VBD.plug, vbd, code="VM_BAD_POWER_STATE", params=[vm, "running", "halted"])
    x.VM.start(vm, False, False)
    assert x.VBD.get_currently_attached(vbd) is True
    x.VM.hard_shutdown(vm)
    x.VBD.destroy(vbd)
    assert vbd not in x.VDI.get_VBDs(vdi)
    path = vdi_path(x, vdi)
    x.VDI.destroy(vdi)
    assert not path.exists()


def test_vbd_rules(eng, x):
    sr = local_sr(x)
    vm = new_vm(x, "vbd-rules", start=False)
    vdi = new_vdi(x, sr, 64 << 20)
    used = x.VBD.get_userdevice(x.VM.get_VBDs(vm)[0])
    expect_failure(new_vbd, x, vm, vdi, used, code="DEVICE_ALREADY_EXISTS", params=[used])
    expect_failure(new_vbd, x, vm, vdi, "xvd" + "abcdefgh"[int(used)], code="DEVICE_ALREADY_EXISTS")
    expect_failure(new_vbd, x, vm, vdi, "disk-seven", code="ILLEGAL_VBD_DEVICE")
    expect_failure(lambda: new_vbd(x, vm, NULL_REF, "3", type="CD", mode="RW", empty=True),
                   code="VBD_CDS_MUST_BE_READONLY", params=[])
    expect_failure(lambda: new_vbd(x, vm, NULL_REF, "3", type="Disk", empty=True),
                   code="VBD_NOT_REMOVABLE_MEDIA", params=["in constructor"])
    expect_failure(new_vbd, x, vm, "OpaqueRef:nonsense", "3", code="HANDLE_INVALID")
    expect_failure(new_vbd, x, NULL_REF, vdi, "3", code="HANDLE_INVALID", params=["VM", NULL_REF])

    # An empty CD drive and an ISO library to fill it from.
    cd = new_vbd(x, vm, NULL_REF, "3", type="CD", mode="RO", empty=True)
    assert x.VBD.get_empty(cd) and x.VBD.get_VDI(cd) == NULL_REF
    assert set(x.VBD.get_allowed_operations(cd)) == {"insert"}
    expect_failure(x.VBD.eject, cd, code="VBD_IS_EMPTY", params=[cd])
    disk = new_vbd(x, vm, vdi, "4")
    expect_failure(x.VBD.insert, disk, vdi, code="VBD_NOT_REMOVABLE_MEDIA", params=[disk])
    expect_failure(x.VBD.eject, disk, code="VBD_NOT_REMOVABLE_MEDIA", params=[disk])

    (sr_dir(x, sr) / "netinst.iso").write_bytes(b"\0" * 4096)
    x.SR.scan(sr)
    iso = [v for v in x.SR.get_VDIs(sr) if x.VDI.get_location(v) == "netinst.iso"][0]
    assert x.VDI.get_read_only(iso) is True
    x.VBD.insert(cd, iso)
    assert x.VBD.get_VDI(cd) == iso and x.VBD.get_empty(cd) is False
    expect_failure(x.VBD.insert, cd, iso, code="VBD_NOT_EMPTY", params=[cd])

    x.VM.start(vm, False, False)
    assert x.VBD.get_currently_attached(cd) is True
    expect_failure(x.VBD.set_mode, disk, "RO", code="VM_BAD_POWER_STATE", params=[vm, "halted", "running"])
    x.VBD.eject(cd)  # through the backend: the drive is attached
    assert x.VBD.get_empty(cd) is True and x.VBD.get_currently_attached(cd) is True
    x.VBD.insert(cd, iso)
    x.VM.hard_shutdown(vm)
    assert all(not x.VBD.get_currently_attached(b) for b in x.VM.get_VBDs(vm))
    x.VBD.set_mode(disk, "RO")
    expect_failure(x.VBD.set_mode, cd, "RW", code="VBD_CDS_MUST_BE_READONLY")
    x.VBD.assert_attachable(disk)
    # A read-only disk cannot be attached read-write.
    x.VDI.set_read_only(vdi, True)
    x.VBD.set_mode(disk, "RW")
    expect_failure(x.VBD.assert_attachable, disk, code="VDI_READONLY", params=[vdi])
    x.VDI.set_read_only(vdi, False)
    x.VBD.assert_attachable(disk)
    x.VBD.destroy(disk)
    x.VBD.destroy(cd)


# ---------------------------------------------------------------- VDIs

def test_vdi_operations(eng, x):
    sr = local_sr(x)
    expect_failure(new_vdi, x, sr, -1, code="DISK_SIZE_INVALID", params=["-1"])
    vdi = new_vdi(x, sr, 16 << 20, "grow-me")
    path = vdi_path(x, vdi)
    with open(path, "r+b") as f:  # some data, so the copies have blocks to copy
        f.seek(1 << 20)
        f.write(b"xcon" * 1024)
    x.VDI.update(vdi)
    assert_true_to_file(x, vdi)
    assert int(x.VDI.get_physical_utilisation(vdi)) > 0

    x.VDI.resize(vdi, str(32 << 20))
    assert os.stat(path).st_size == 32 << 20
    assert_true_to_file(x, vdi)
    x.VDI.resize(vdi, str(8 << 20))
    assert os.stat(path).st_size == 8 << 20
    assert_true_to_file(x, vdi)
    expect_failure(x.VDI.resize, vdi, "-5", code="DISK_SIZE_INVALID", params=["-5"])

    # Watch the operations come and go on the record.
    ev = eng.local_session()
    ev.xenapi.event.register(["vdi"])
    clone = x.VDI.clone(vdi, {})
    events = ev.xenapi.event.next()
    ops = [e["snapshot"]["current_operations"] for e in events if e["ref"] == vdi and "snapshot" in e]
    assert {"clone"} in [set(o.values()) for o in ops], ops
    assert ops[-1] == {}
    assert x.VDI.get_current_operations(vdi) == {}
    ev.logout()
    assert vdi_path(x, clone).read_bytes()[1 << 20:(1 << 20) + 4] == b"xcon"
    assert_true_to_file(x, clone)
    assert x.VDI.get_is_a_snapshot(clone) is False

    snap = x.VDI.snapshot(vdi, {})
    s = x.VDI.get_record(snap)
    assert s["is_a_snapshot"] is True and s["snapshot_of"] == vdi
    assert snap in x.VDI.get_snapshots(vdi)
    assert s["snapshot_time"].value != "19700101T00:00:00Z"
    assert_true_to_file(x, snap)

    # copy into another SR.
    other_dir = Path(eng.workdir) / "copy-target"
    other = x.SR.create(host_of(x), {"location": str(other_dir)}, "0", "copies", "", "file", "user", False, {})
    copy = x.VDI.copy(vdi, other)
    assert x.VDI.get_SR(copy) == other
    assert (other_dir / x.VDI.get_location(copy)).exists()
    assert_true_to_file(x, copy)

    # forget keeps the file; introduce brings the record back.
    loc = x.VDI.get_location(clone)
    uuid = x.VDI.get_uuid(clone)
    x.VDI.forget(clone)
    assert (sr_dir(x, sr) / loc).exists()
    expect_failure(x.VDI.get_record, clone, code="HANDLE_INVALID")
    back = x.VDI.introduce(uuid, "back", "", sr, "user", False, False, {}, loc)
    assert x.VDI.get_uuid(back) == uuid
    assert_true_to_file(x, back)
    expect_failure(x.VDI.introduce, "", "again", "", sr, "user", False, False, {}, loc,
                   code="LOCATION_NOT_UNIQUE", params=[sr, loc])
    expect_failure(x.VDI.introduce, "", "nothing", "", sr, "user", False, False, {}, "no-such.img",
                   code="VDI_LOCATION_MISSING", params=[sr, "no-such.img"])

    x.VDI.set_name_label(vdi, "renamed")
    x.VDI.set_name_description(vdi, "described")
    x.VDI.set_sharable(vdi, True)
    assert x.VDI.get_name_label(vdi) == "renamed" and x.VDI.get_sharable(vdi) is True
    x.VDI.set_read_only(vdi, True)
    assert "resize" not in x.VDI.get_allowed_operations(vdi)
    expect_failure(x.VDI.resize, vdi, str(1 << 20), code="VDI_READONLY", params=[vdi])
    x.VDI.set_read_only(vdi, False)
    for v in (vdi, back, snap):
        p = vdi_path(x, v)
        x.VDI.destroy(v)
        assert not p.exists()
    # An SR nobody has plugged takes no new disk.
    x.PBD.unplug(x.SR.get_PBDs(other)[0])
    expect_failure(new_vdi, x, other, 1 << 20, code="SR_HAS_NO_PBDS", params=[other])
    x.PBD.plug(x.SR.get_PBDs(other)[0])
    x.VDI.destroy(copy)
    x.PBD.unplug(x.SR.get_PBDs(other)[0])
    x.SR.destroy(other)


# ---------------------------------------------------------------- SRs and PBDs

def test_sr_lifecycle(eng, x):
    host = host_of(x)
    assert x.SR.get_supported_types() == ["file"]
    where = Path(eng.workdir) / "srs" / "one"
    expect_failure(x.SR.create, host, {"location": str(where)}, "0", "x", "", "nfs", "user", False, {},
                   code="SR_UNKNOWN_DRIVER", params=["nfs"])
    expect_failure(x.SR.create, host, {"location": "relative/dir"}, "0", "x", "", "file", "user", False, {},
                   code="SR_BACKEND_FAILURE_226")
    expect_failure(x.SR.create, host, {}, "0", "x", "", "file", "user", False, {},
                   code="SR_BACKEND_FAILURE_94")

    sr = x.SR.create(host, {"location": str(where)}, "0", "one", "test SR", "file", "user", False, {})
    assert where.is_dir()
    rec = x.SR.get_record(sr)
    assert rec["type"] == "file" and rec["name_label"] == "one" and int(rec["physical_size"]) > 0
    assert len(rec["PBDs"]) == 1
    pbd = rec["PBDs"][0]
    assert x.PBD.get_currently_attached(pbd) is True and x.PBD.get_host(pbd) == host
    assert {"scan", "vdi_create", "unplug"} <= set(rec["allowed_operations"])
    assert "destroy" not in rec["allowed_operations"] and "forget" not in rec["allowed_operations"]
    expect_failure(x.SR.create, host, {"location": str(where)}, "0", "x", "", "file", "user", False, {},
                   code="SR_BACKEND_FAILURE_42")

    # Files put there by hand show up with a scan; vanished ones go missing.
    (where / "by-hand.img").write_bytes(b"\1" * 8192)
    os.truncate(where / "by-hand.img", 4 << 20)
    x.SR.scan(sr)
    found = [v for v in x.SR.get_VDIs(sr) if x.VDI.get_location(v) == "by-hand.img"]
    assert len(found) == 1
    assert_true_to_file(x, found[0])
    made = new_vdi(x, sr, 1 << 20, "made")
    assert int(x.SR.get_virtual_allocation(sr)) == (4 << 20) + (1 << 20)
    os.unlink(where / "by-hand.img")
    x.SR.scan(sr)
    assert x.VDI.get_missing(found[0]) is True
    x.SR.update(sr)

    xml = x.SR.probe(host, {"location": str(where)}, "file", {})
    assert "<SRlist>" in xml and f"<UUID>{rec['uuid']}</UUID>" in xml and str(where) in xml
    assert "<SR>" not in x.SR.probe(host, {"location": str(where) + "-nothing"}, "file", {})
    expect_failure(x.SR.probe, host, {"location": str(where)}, "lvm", {}, code="SR_UNKNOWN_DRIVER")

    x.SR.set_name_label(sr, "renamed")
    x.SR.set_name_description(sr, "desc")
    x.SR.set_shared(sr, True)
    x.SR.set_physical_size(sr, "12345")
    assert x.SR.get_name_label(sr) == "renamed" and x.SR.get_shared(sr) is True
    assert x.SR.get_physical_size(sr) == "12345"

    # forget needs the PBDs unplugged, keeps the files.
    expect_failure(x.SR.forget, sr, code="SR_HAS_PBD", params=[sr])
    expect_failure(x.SR.destroy, sr, code="SR_HAS_PBD", params=[sr])
    expect_failure(x.PBD.destroy, pbd, code="OPERATION_NOT_ALLOWED")
    x.PBD.unplug(pbd)
    assert x.PBD.get_currently_attached(pbd) is False
    assert {"forget", "destroy", "plug"} <= set(x.SR.get_allowed_operations(sr))
    made_file = where / x.VDI.get_location(made)
    x.SR.forget(sr)
    expect_failure(x.SR.get_record, sr, code="HANDLE_INVALID")
    expect_failure(x.PBD.get_record, pbd, code="HANDLE_INVALID")
    expect_failure(x.VDI.get_record, made, code="HANDLE_INVALID")
    assert made_file.exists()

    # introduce + PBD.create + plug + scan: the same SR again.
    sr2 = x.SR.introduce(rec["uuid"], "again", "", "file", "user", False, {})
    assert x.SR.get_uuid(sr2) == rec["uuid"] and x.SR.get_PBDs(sr2) == []
    expect_failure(x.SR.introduce, rec["uuid"], "twice", "", "file", "user", False, {}, code="INVALID_VALUE")
    pbd2 = x.PBD.create({"host": host, "SR": sr2, "device_config": {"location": str(where)}, "other_config": {}})
    assert x.PBD.get_currently_attached(pbd2) is False
    assert "plug" in x.SR.get_allowed_operations(sr2)
    expect_failure(x.PBD.create, {"host": host, "SR": sr2, "device_config": {}, "other_config": {}},
                   code="PBD_EXISTS", params=[sr2, host, pbd2])
    x.PBD.plug(pbd2)
    x.PBD.plug(pbd2)  # already: nothing to do
    x.SR.scan(sr2)
    again = [v for v in x.SR.get_VDIs(sr2) if x.VDI.get_location(v) == made_file.name]
    assert len(again) == 1 and x.VDI.get_uuid(again[0]) == made_file.stem

    # A running VM's disk pins the SR.
    vm = new_vm(x, "sr-user")
    vbd = new_vbd(x, vm, again[0])
    x.VBD.plug(vbd)
    expect_failure(x.PBD.unplug, pbd2, code="VDI_IN_USE", params=[again[0], "unplug"])
    assert "unplug" not in x.SR.get_allowed_operations(sr2)
    x.VBD.unplug(vbd)
    x.VM.hard_shutdown(vm)

    # A PBD whose directory is gone cannot plug.
    x.PBD.unplug(pbd2)
    x.PBD.set_device_config(pbd2, {"location": str(where) + "-gone"})
    f = expect_failure(x.PBD.plug, pbd2, code="SR_BACKEND_FAILURE_47")
    assert "-gone" in f.params[2]
    x.PBD.set_device_config(pbd2, {"location": str(where)})
    x.PBD.plug(pbd2)

    # destroy takes the files, the VDIs (and their VBDs), the PBDs.
    x.PBD.unplug(pbd2)
    x.SR.destroy(sr2)
    assert not made_file.exists()
    expect_failure(x.SR.get_record, sr2, code="HANDLE_INVALID")
    expect_failure(x.VBD.get_record, vbd, code="HANDLE_INVALID")
    assert not any(r["SR"] == sr2 for r in x.VDI.get_all_records().values())


# ---------------------------------------------------------------- networks and VIFs

def test_nic_with_ethtool_settings_reaches_the_guest(eng, x):
    host = host_of(x)
    net = guest_network(x, host)
    assert x.network.get_MTU(net) in ("1500", 1500) or int(x.network.get_MTU(net)) > 0
    vm = new_vm(x, "nic-vm")
    settings = {"ethtool-tx": "off", "ethtool-sg": "false", "ethtool-tso": "on", "promiscuous": "true",
                "mtu": "9000", "note": "free-form keys are fine"}
    vif = new_vif(x, vm, net, device="1", mac="", other_config=settings)
    r = x.VIF.get_record(vif)
    assert r["currently_attached"] is False
    mac = r["MAC"]
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac)
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast
    assert r["MAC_autogenerated"] is True
    assert r["MTU"] == "1500"
    assert r["allowed_operations"] == ["plug"]

    x.VIF.plug(vif)
    assert x.VIF.get_currently_attached(vif) is True
    expect_failure(x.VIF.plug, vif, code="DEVICE_ALREADY_ATTACHED", params=[vif])
    expect_failure(x.VIF.destroy, vif, code="OPERATION_NOT_ALLOWED")
    con = Console(eng, "nic-vm")
    try:
        con.login()
        k = con.run("ethtool -k eth1")
        assert re.search(r"tx-checksumming: off", k), k
        assert re.search(r"scatter-gather: off", k), k
        assert re.search(r"tcp-segmentation-offload: on", k), k
        link = con.run("ip link show eth1")
        assert "PROMISC" in link and mac in link, link
    finally:
        con.close()

    x.VIF.unplug(vif)
    assert x.VIF.get_currently_attached(vif) is False
    expect_failure(x.VIF.unplug, vif, code="DEVICE_ALREADY_DETACHED", params=[vif])

    # Settings are checked whichever way they arrive.
    expect_failure(x.VIF.add_to_other_config, vif, "ethtool-rx", "maybe", code="ETHTOOL_SETTING_INVALID",
                   params=["ethtool-rx", "maybe", "on, true, off, false"])
    expect_failure(x.VIF.set_other_config, vif, {"ethtool-speed": "42"}, code="ETHTOOL_SETTING_INVALID",
                   params=["ethtool-speed", "42", "10, 100, 1000"])
    expect_failure(x.VIF.set_other_config, vif, {"ethtool-duplex": "both"}, code="ETHTOOL_SETTING_INVALID",
                   params=["ethtool-duplex", "both", "half, full"])
    expect_failure(x.VIF.set_other_config, vif, {"mtu": "12"}, code="ETHTOOL_SETTING_INVALID",
                   params=["mtu", "12", "68-65535"])
    x.VIF.add_to_other_config(vif, "ethtool-rx", "on")
    x.VIF.set_other_config(vif, {"ethtool-speed": "1000", "ethtool-duplex": "full", "ethtool-autoneg": "off"})
    expect_failure(new_vif, x, vm, net, "2", "", {"ethtool-gso": "sometimes"}, code="ETHTOOL_SETTING_INVALID")
    expect_failure(new_vif, x, vm, net, "2", "not-a-mac", code="MAC_INVALID", params=["not-a-mac"])
    expect_failure(new_vif, x, vm, net, "1", code="DEVICE_ALREADY_EXISTS", params=["1"])
    expect_failure(new_vif, x, vm, net, "eth2", code="INVALID_DEVICE", params=["eth2"])
    given = new_vif(x, vm, net, "2", "AA:BB:CC:00:11:22")
    assert x.VIF.get_MAC(given) == "AA:BB:CC:00:11:22" and x.VIF.get_MAC_autogenerated(given) is False
    x.VIF.destroy(given)
    x.VIF.destroy(vif)
    x.VM.hard_shutdown(vm)


def test_network_create_and_destroy(eng, x):
    host = host_of(x)
    n1 = x.network.create({"name_label": "private", "name_description": "", "other_config": {}, "bridge": ""})
    n2 = x.network.create({"name_label": "private 2", "name_description": "", "other_config": {}, "bridge": ""})
    b1, b2 = x.network.get_bridge(n1), x.network.get_bridge(n2)
    assert re.fullmatch(r"xapi\d+", b1) and re.fullmatch(r"xapi\d+", b2) and b1 != b2
    expect_failure(x.network.create, {"name_label": "dup", "name_description": "", "other_config": {},
                                      "bridge": b1}, code="INVALID_VALUE", params=["bridge", b1])

    vm = new_vm(x, "net-vm", start=False)
    vif = new_vif(x, vm, n1, device="3")
    expect_failure(x.network.destroy, n1, code="NETWORK_CONTAINS_VIF", params=[vif])
    x.VIF.destroy(vif)
    x.network.destroy(n1)

    phys = guest_network(x, host)
    expect_failure(x.network.destroy, phys, code="CANNOT_DESTROY_SYSTEM_NETWORK", params=[phys])

    base, _ = physical_pif(x, host)
    vlan = x.VLAN.create(base, 77, n2)
    pif = x.VLAN.get_untagged_PIF(vlan)
    expect_failure(x.network.destroy, n2, code="NETWORK_CONTAINS_PIF", params=[pif])
    x.VLAN.destroy(vlan)
    x.network.destroy(n2)


# ---------------------------------------------------------------- PIFs, VLANs, bonds

def test_vlans(eng, x):
    host = host_of(x)
    base, b = physical_pif(x, host)
    net = x.network.create({"name_label": "vlan 10", "name_description": "", "other_config": {}, "bridge": ""})
    vlan = x.VLAN.create(base, 10, net)
    v = x.VLAN.get_record(vlan)
    assert v["tagged_PIF"] == base and v["tag"] == "10"
    p = x.PIF.get_record(v["untagged_PIF"])
    assert p["VLAN"] == "10" and p["device"] == b["device"] and p["MAC"] == b["MAC"]
    assert p["physical"] is False and p["network"] == net and p["host"] == host
    assert p["VLAN_master_of"] == vlan and vlan in x.PIF.get_VLAN_slave_of(base)

    net2 = x.network.create({"name_label": "vlan x", "name_description": "", "other_config": {}, "bridge": ""})
    expect_failure(x.VLAN.create, base, 10, net2, code="PIF_VLAN_EXISTS", params=[b["device"]])
    expect_failure(x.VLAN.create, base, 11, net, code="NETWORK_ALREADY_CONNECTED")
    for tag in (4095, -1, 10000):
        expect_failure(x.VLAN.create, base, tag, net2, code="VLAN_TAG_INVALID", params=[str(tag)])
    expect_failure(x.VLAN.create, v["untagged_PIF"], 12, net2, code="PIF_IS_VLAN")
    expect_failure(x.PIF.destroy, base, code="PIF_IS_PHYSICAL", params=[base])

    # The deprecated PIF calls and the pool-wide ones.
    pif11 = x.PIF.create_VLAN(b["device"], net2, host, 11)
    assert x.PIF.get_VLAN(pif11) == "11"
    expect_failure(x.PIF.create_VLAN, "nosuchdev", net2, host, 13, code="INVALID_VALUE",
                   params=["device", "nosuchdev"])
    x.PIF.destroy(pif11)
    net3 = x.network.create({"name_label": "pool vlan", "name_description": "", "other_config": {}, "bridge": ""})
    pifs = x.pool.create_VLAN(b["device"], net3, 12)
    assert len(pifs) == len(x.host.get_all()) and x.PIF.get_VLAN(pifs[0]) == "12"
    x.PIF.destroy(pifs[0])
    pifs = x.pool.create_VLAN_from_PIF(base, net3, 14)
    assert x.PIF.get_VLAN(pifs[0]) == "14"
    x.VLAN.destroy(x.PIF.get_VLAN_master_of(pifs[0]))

    # IP settings, plug/unplug, other_config.
    vp = v["untagged_PIF"]
    expect_failure(x.PIF.reconfigure_ip, vp, "Static", "10.1.2.3", "", "", "", code="INVALID_VALUE",
                   params=["netmask", ""])
    expect_failure(x.PIF.reconfigure_ip, vp, "Static", "", "255.255.255.0", "", "", code="INVALID_VALUE",
                   params=["IP", ""])
    expect_failure(x.PIF.reconfigure_ip, vp, "Static", "10.1.2.3", "255.255.255.0", "gw", "",
                   code="INVALID_VALUE", params=["gateway", "gw"])
    x.PIF.reconfigure_ip(vp, "Static", "10.1.2.3", "255.255.255.0", "10.1.2.1", "10.1.2.53")
    p = x.PIF.get_record(vp)
    assert (p["ip_configuration_mode"], p["IP"], p["netmask"], p["gateway"], p["DNS"]) == \
        ("Static", "10.1.2.3", "255.255.255.0", "10.1.2.1", "10.1.2.53")
    x.PIF.reconfigure_ip(vp, "None", "", "", "", "")
    x.PIF.unplug(vp)
    assert x.PIF.get_currently_attached(vp) is False
    x.PIF.plug(vp)
    assert x.PIF.get_currently_attached(vp) is True
    expect_failure(x.PIF.add_to_other_config, vp, "ethtool-tso", "yes", code="ETHTOOL_SETTING_INVALID")
    expect_failure(x.PIF.set_other_config, vp, {"static-routes": "10.0.0.0/8"}, code="ETHTOOL_SETTING_INVALID")
    x.PIF.set_other_config(vp, {"static-routes": "172.16.0.0/24/10.1.2.1", "ethtool-speed": "100"})

    mgmt = [r for r, rec in x.PIF.get_all_records().items() if rec["management"] and rec["host"] == host][0]
    expect_failure(x.PIF.unplug, mgmt, code="PIF_IS_MANAGEMENT_INTERFACE", params=[mgmt])
    expect_failure(x.PIF.reconfigure_ip, mgmt, "None", "", "", "", "", code="PIF_IS_MANAGEMENT_INTERFACE")
    expect_failure(x.PIF.forget, mgmt, code="PIF_VLAN_STILL_EXISTS") if mgmt == base else None

    x.PIF.destroy(vp)
    expect_failure(x.VLAN.get_record, vlan, code="HANDLE_INVALID")
    for n in (net, net2, net3):
        x.network.destroy(n)
    x.PIF.scan(host)  # nothing new on this host


def test_bond(eng, x):
    host = host_of(x)
    phys = [r for r, rec in x.PIF.get_all_records().items()
            if rec["host"] == host and rec["VLAN"] == "-1" and not x.PIF.get_bond_master_of(r)
            and x.PIF.get_bond_slave_of(r) == NULL_REF]
    net = x.network.create({"name_label": "bond", "name_description": "", "other_config": {}, "bridge": ""})
    expect_failure(x.Bond.create, net, phys[:1], "", code="PIF_BOND_NEEDS_MORE_MEMBERS")
    if len(phys) < 2:
        x.network.destroy(net)
        pytest.skip("this machine has a single network interface: no bond to make")
    bond = x.Bond.create(net, phys[:2], "")
    master = x.Bond.get_master(bond)
    assert x.PIF.get_device(master).startswith("bond") and set(x.Bond.get_slaves(bond)) == set(phys[:2])
    expect_failure(x.Bond.create, net, phys[:2], "", code="PIF_ALREADY_BONDED")
    x.Bond.destroy(bond)
    assert all(x.PIF.get_bond_slave_of(p) == NULL_REF for p in phys[:2])
    x.network.destroy(net)


# ---------------------------------------------------------------- hosts

def test_host_disable_reboot_takes_guests_down(fresh):
    eng, x = fresh()
    host = host_of(x)
    running = new_vm(x, "stays-up")
    paused = new_vm(x, "paused-one")
    x.VM.pause(paused)
    halted = new_vm(x, "halted-one", start=False)
    vbd = x.VM.get_VBDs(running)[0]
    assert x.VBD.get_currently_attached(vbd) is True

    expect_failure(x.host.reboot, host, code="HOST_NOT_DISABLED", params=[])
    x.host.disable(host)
    h = x.host.get_record(host)
    assert h["enabled"] is False
    assert "vm_start" not in h["allowed_operations"] and "reboot" in h["allowed_operations"]
    expect_failure(x.VM.start, halted, False, False)
    expect_failure(x.host.reboot, host, code="HOST_IN_USE", params=[host, "vm", running])
    expect_failure(x.host.shutdown, host, code="HOST_IN_USE", params=[host, "vm", running])
    expect_failure(x.host.assert_can_evacuate, host, code="NO_HOSTS_AVAILABLE")
    expect_failure(x.host.evacuate, host, code="NO_HOSTS_AVAILABLE")

    # Only paused guests left: the reboot takes them down with the host.
    x.VM.pause(running)
    x.host.reboot(host)
    for vm in (running, paused):
        wait_for(lambda vm=vm: x.VM.get_power_state(vm) == "Halted", what="VMs halted by the reboot")
        assert x.VM.get_resident_on(vm) == NULL_REF
    assert x.VBD.get_currently_attached(vbd) is False
    assert x.host.get_current_operations(host) == {}

    enable_when_up(x, host)
    assert x.host.get_enabled(host) is True
    assert x.host_metrics.get_live(x.host.get_metrics(host)) is True
    x.VM.start(running, False, False)
    assert x.VM.get_power_state(running) == "Running"
    assert x.VBD.get_currently_attached(vbd) is True
    x.VM.hard_shutdown(running)

    f = expect_failure(x.host.set_hostname_live, host, "bad name!", code="HOST_NAME_INVALID")
    assert f.params == ["hostname contains invalid characters"]
    x.host.set_hostname_live(host, "xcon-test-1")
    assert x.host.get_hostname(host) == "xcon-test-1"
    x.host.syslog_reconfigure(host)
    f = expect_failure(x.host.destroy, host, code="HOST_IS_LIVE", params=[host])


def test_evacuate_moves_guests_to_another_host(fresh):
    eng, x = fresh(["--sim-hosts", "2"])
    hosts = x.host.get_all()
    assert len(hosts) == 2
    master = x.pool.get_master(x.pool.get_all()[0])
    other = [h for h in hosts if h != master][0]
    vm = new_vm(x, "mover", start=False)
    x.VM.start_on(vm, other, False, False)
    assert x.VM.get_resident_on(vm) == other
    x.host.assert_can_evacuate(other)
    x.host.disable(other)
    x.host.evacuate(other)
    assert x.VM.get_resident_on(vm) == master and x.VM.get_power_state(vm) == "Running"
    x.host.reboot(other)
    enable_when_up(x, other)
    # With the only other host disabled, there is nowhere to go.
    x.host.disable(other)
    expect_failure(x.host.assert_can_evacuate, master, code="NO_HOSTS_AVAILABLE")
    x.host.enable(other)
    x.host.assert_can_evacuate(master)
    x.VM.hard_shutdown(vm)
