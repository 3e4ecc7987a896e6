"""The XenServer 4.1 SDK guide's own flows, in Python 3, against a real
engine on the simulated host: the "install and start" walk-through
(template -> clone -> provision -> start -> suspend -> resume -> shutdown),
VM.xenstore_data reaching the guest, the watch-all-events loop, and the
permute.py XenMotion example on a simulated pool of three hosts.

Guests are checked through their text console: the real pty the simulated
host gives every domain (xconlib.GuestConsole finds it among the engine's
open ptys; no API call returns its path, the VM's console record being the
4.1-style rfb URL)."""
import os
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from xconlib import NULL_REF, REF_RE, Failure, expect_failure, process_ptys

# a fixed-size simulated host: the same memory figures on every machine
ENGINE_ENV = {"XCON_SIM_TIME_SCALE": "0.01", "XCON_SIM_HOST_MEMORY": "32G"}
EPOCH = "19700101T00:00:00Z"


def find_template(x, name):
    """As the guide does it: one get_all_records snapshot, then a scan."""
    recs = x.VM.get_all_records()
    templates = {r: v for r, v in recs.items() if v["is_a_template"]}
    hits = [r for r, v in templates.items() if v["name_label"] == name]
    assert len(hits) == 1, f"template {name!r}: {len(hits)} found among {sorted(v['name_label'] for v in templates.values())}"
    return hits[0]


def stamp(dt):
    return time.mktime(time.strptime(dt.value, "%Y%m%dT%H:%M:%SZ")) - time.timezone


def sr_dir(x, sr):
    pbds = x.SR.get_PBDs(sr)
    assert pbds, f"SR {sr} has no PBD"
    return x.PBD.get_device_config(pbds[0])["location"]


def check_devices_attached(x, vm, attached):
    for vbd in x.VM.get_VBDs(vm):
        assert x.VBD.get_currently_attached(vbd) is attached, f"VBD {vbd} currently_attached should be {attached}"


def check_not_resident(x, vm, host):
    r = x.VM.get_record(vm)
    assert r["domid"] == "-1", r["domid"]
    assert r["resident_on"] == NULL_REF, r["resident_on"]
    assert r["consoles"] == [], r["consoles"]
    assert vm not in x.host.get_resident_VMs(host)
    check_devices_attached(x, vm, False)


def check_resident(x, vm, host, vcpus, memory):
    r = x.VM.get_record(vm)
    assert re.fullmatch(r"[1-9]\d*", r["domid"]), f"a running VM has a domid > 0, got {r['domid']}"
    assert r["resident_on"] == host
    assert vm in x.host.get_resident_VMs(host)
    assert len(r["consoles"]) == 1, r["consoles"]
    con = x.console.get_record(r["consoles"][0])
    assert con["VM"] == vm
    assert con["protocol"] == "rfb"
    assert re.fullmatch(r"https://[^/]+/console\?ref=" + re.escape(vm), con["location"]), con["location"]
    m = x.VM_metrics.get_record(r["metrics"])
    assert m["VCPUs_number"] == vcpus, m
    assert m["memory_actual"] == memory, m
    check_devices_attached(x, vm, True)
    return r, m


def test_install_and_start_walkthrough(engine):
    s = engine.client("unix").login("root", "")
    x = s.xenapi
    pool = x.pool.get_all()[0]
    host = x.pool.get_master(pool)
    default_sr = x.pool.get_default_SR(pool)

    tmpl = find_template(x, "Debian Etch 4.0")
    disks = ET.fromstring(x.VM.get_other_config(tmpl)["disks"]).findall("disk")
    assert disks, "the Debian Etch template describes its disks in other_config:disks"

    # --- install: clone the template, then provision its disks
    vm = x.VM.clone(tmpl, "etchwalk")
    assert REF_RE.fullmatch(vm)
    r = x.VM.get_record(vm)
    assert r["name_label"] == "etchwalk"
    assert r["is_a_template"] is True, "a clone keeps is_a_template"
    assert r["power_state"] == "Halted"
    assert r["VBDs"] == []
    assert "disks" in r["other_config"]
    expect_failure(x.VM.start, vm, False, False, code="VM_IS_TEMPLATE", params=[vm, "start"])

    x.VM.provision(vm)
    r = x.VM.get_record(vm)
    assert r["is_a_template"] is False, "provision turns the clone into a VM"
    assert "disks" not in r["other_config"], "provision consumes other_config:disks"
    assert r["power_state"] == "Halted"
    assert "start" in r["allowed_operations"]
    assert len(r["VBDs"]) == len(disks)
    by_dev = {x.VBD.get_userdevice(b): b for b in r["VBDs"]}
    assert sorted(by_dev) == sorted(d.get("device") for d in disks)
    for d in disks:
        vbd = x.VBD.get_record(by_dev[d.get("device")])
        assert vbd["VM"] == vm
        assert vbd["bootable"] is (d.get("bootable") == "true")
        assert (vbd["mode"], vbd["type"], vbd["empty"], vbd["currently_attached"]) == ("RW", "Disk", False, False)
        assert vbd["other_config"].get("owner") == "", "provisioned disks are owned by their VM (xe vm-uninstall)"
        assert vbd["unpluggable"] is (d.get("type", "system") != "system")
        vdi = x.VDI.get_record(vbd["VDI"])
        assert vdi["virtual_size"] == d.get("size")
        assert vdi["SR"] == default_sr, "sr=\"\" in the disks XML means the pool's default SR"
        assert vdi["type"] == d.get("type", "system")
        assert by_dev[d.get("device")] in vdi["VBDs"]
        assert vbd["VDI"] in x.SR.get_VDIs(default_sr)
        path = os.path.join(sr_dir(x, default_sr), vdi["location"])
        st = os.stat(path)
        assert st.st_size == int(d.get("size")), f"{path}: {st.st_size} bytes, want {d.get('size')}"
        assert st.st_blocks * 512 < 1 << 20, f"{path} should be sparse, has {st.st_blocks * 512} bytes allocated"

    # --- what the guest will see in xenstore (vm-data/ only)
    x.VM.set_xenstore_data(vm, {"vm-data/foo": "bar", "other/x": "y"})
    assert x.VM.get_xenstore_data(vm) == {"vm-data/foo": "bar", "other/x": "y"}

    vcpus = r["VCPUs_at_startup"]
    memory = r["memory_dynamic_max"] if int(r["memory_dynamic_max"]) else r["memory_static_max"]

    # --- start
    ptys = process_ptys(engine.pid)
    t0 = time.time()
    x.VM.start(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
    r, m = check_resident(x, vm, host, vcpus, memory)
    assert stamp(m["start_time"]) >= int(t0) - 1, m["start_time"]
    assert "suspend" in r["allowed_operations"] and "start" not in r["allowed_operations"]
    domid = r["domid"]
    metrics = r["metrics"]
    old_console = r["consoles"][0]

    with engine.guest_console("etchwalk") as con:
        con.shell()
        assert con.run("xenstore-read domid").strip() == domid
        assert con.run("xenstore-read vm-data/foo") == "bar\n"
        out = con.run("xenstore-read other/x")
        assert "couldn't read path" in out, f"only vm-data/ reaches the guest; other/x gave {out!r}"
        assert "other" not in con.run("xenstore-ls")

    # --- suspend
    x.VM.suspend(vm)
    r = x.VM.get_record(vm)
    assert r["power_state"] == "Suspended"
    check_not_resident(x, vm, host)
    expect_failure(x.console.get_record, old_console, code="HANDLE_INVALID", params=["console", old_console])
    suspend_vdi = r["suspend_VDI"]
    assert REF_RE.fullmatch(suspend_vdi), "a suspended VM has its memory image in suspend_VDI"
    image_sr = x.VDI.get_SR(suspend_vdi)
    assert image_sr in (x.pool.get_suspend_image_SR(pool), default_sr)
    assert x.VDI.get_type(suspend_vdi) == "suspend"
    image = os.path.join(sr_dir(x, image_sr), x.VDI.get_location(suspend_vdi))
    assert os.path.isfile(image) and os.stat(image).st_size > 0, f"no suspend image at {image}"
    assert process_ptys(engine.pid) == ptys, "a suspended VM's console pty is closed"
    assert r["metrics"] == metrics
    assert "resume" in r["allowed_operations"] and "suspend" not in r["allowed_operations"]

    # --- resume: a new domain, the same guest
    x.VM.resume(vm, False, False)
    r, m = check_resident(x, vm, host, vcpus, memory)
    assert r["power_state"] == "Running"
    assert r["domid"] != domid, "a resumed VM runs in a new domain"
    assert r["suspend_VDI"] == NULL_REF
    expect_failure(x.VDI.get_record, suspend_vdi, code="HANDLE_INVALID", params=["VDI", suspend_vdi])
    assert not os.path.exists(image), "the suspend image goes once the VM has resumed"
    with engine.guest_console("etchwalk") as con:
        con.shell()
        assert con.run("xenstore-read vm-data/foo") == "bar\n"
        assert con.run("xenstore-read domid").strip() == r["domid"]

    # --- clean shutdown
    x.VM.clean_shutdown(vm)
    r = x.VM.get_record(vm)
    assert r["power_state"] == "Halted"
    check_not_resident(x, vm, host)
    assert "start" in r["allowed_operations"]
    assert r["metrics"] == metrics
    # the disks stay, with the VM; the console pty goes with the domain
    assert len(r["VBDs"]) == len(disks)
    assert process_ptys(engine.pid) == ptys, "the halted VM's console pty is still open"

    s.logout()
    expect_failure(engine.client("unix").call, "VM.get_all", s.ref, code="SESSION_INVALID", params=[s.ref])


# ---------------------------------------------------------------------------
# watch-all-events.py, in Python 3


class EventWatcher(threading.Thread):
    """The guide's loop on its own connection, stopping once stop(ev) says."""

    FMT = "%8s  %20s  %5s  %s"

    def __init__(self, session, stop):
        super().__init__(daemon=True)
        self.session = session
        self.stop = stop
        self.events = []
        self.lines = []
        self.errors = []
        self.registered = threading.Event()

    def run(self):
        x = self.session.xenapi
        try:
            x.event.register(["*"])
            self.registered.set()
            while True:
                try:
                    for event in x.event.next():
                        name = "(unknown)"
                        if "snapshot" in event.keys():
                            snapshot = event["snapshot"]
                            if "name_label" in snapshot.keys():
                                name = snapshot["name_label"]
                        self.lines.append(self.FMT % (event["id"], event["class"], event["operation"], name))
                        self.events.append(event)
                        if self.stop(event):
                            return
                except Failure as e:
                    if e.details == ["EVENTS_LOST"]:
                        self.errors.append("Caught EVENTS_LOST; should reregister")
                        x.event.register(["*"])
                    else:
                        raise
        except Exception as ex:  # noqa: BLE001
            self.errors.append(repr(ex))
        finally:
            self.registered.set()


def test_watch_all_events_sees_a_vm_life_in_order(engine):
    actor = engine.local_session()
    x = actor.xenapi
    tmpl = find_template(x, "Debian Etch 4.0")
    target = {}
    w = EventWatcher(engine.local_session(timeout=20),
                     lambda ev: ev["class"] == "vm" and ev["operation"] == "del" and ev["ref"] == target.get("vm"))
    w.start()
    assert w.registered.wait(10)

    vm = target["vm"] = x.VM.clone(tmpl, "evlife")
    x.VM.provision(vm)
    vbds = x.VM.get_VBDs(vm)
    x.VM.start(vm, False, False)
    x.VM.clean_shutdown(vm)
    for vbd in vbds:
        x.VBD.destroy(vbd)
    x.VM.destroy(vm)

    w.join(20)
    assert not w.is_alive(), "the watcher never saw the VM's del event; it saw:\n" + "\n".join(w.lines[-30:])
    assert not w.errors, w.errors

    ids = [int(e["id"]) for e in w.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "event ids increase"
    mine = [e for e in w.events if e["ref"] == vm]
    assert all(e["class"] == "vm" for e in mine)
    ops = [e["operation"] for e in mine]
    assert ops[0] == "add" and ops[-1] == "del" and set(ops[1:-1]) == {"mod"}, ops
    assert mine[0]["snapshot"]["name_label"] == "evlife"
    assert mine[0]["snapshot"]["is_a_template"] is True
    # the snapshots walk through the life: template, provisioned, running, halted
    states = []
    for e in mine[1:-1]:
        snap = e["snapshot"]
        st = ("template" if snap["is_a_template"] else snap["power_state"])
        if not states or states[-1] != st:
            states.append(st)
    assert states[0] in ("template", "Halted"), states
    want = ["Halted", "Running", "Halted"]
    it = iter(states)
    assert all(s in it for s in want), f"VM snapshots should go Halted -> Running -> Halted, went {states}"
    # the VBDs of provision come and go, between the VM's add and del
    vbd_evs = [e for e in w.events if e["class"] == "vbd" and e["ref"] in vbds]
    add_pos = {e["ref"]: w.events.index(e) for e in vbd_evs if e["operation"] == "add"}
    del_pos = {e["ref"]: w.events.index(e) for e in vbd_evs if e["operation"] == "del"}
    assert set(add_pos) == set(vbds) == set(del_pos), (add_pos, del_pos)
    vm_add, vm_del = w.events.index(mine[0]), w.events.index(mine[-1])
    assert all(vm_add < p < vm_del for p in list(add_pos.values()) + list(del_pos.values()))
    # the guide's output: one line per event, class lowercase
    assert any(re.fullmatch(r"\s*\d+\s+vm\s+add\s+evlife", line) for line in w.lines), w.lines[:5]


# ---------------------------------------------------------------------------
# permute.py (XenMotion) on a simulated pool of three hosts


def permute_main(session, iteration, log):
    """The guide's main(), in Python 3; the 1 s poll interval shortened."""
    all_vms = session.xenapi.VM.get_all()
    vms = []
    hosts = []
    for vm in all_vms:
        record = session.xenapi.VM.get_record(vm)
        if not (record["is_a_template"]) and not (record["is_control_domain"]) and record["power_state"] == "Running":
            vms.append(vm)
            hosts.append(record["resident_on"])
    log.append("%d: Found %d suitable running VMs" % (iteration, len(vms)))

    # use a rotation as a permutation
    hosts = [hosts[-1]] + hosts[:(len(hosts) - 1)]

    tasks = []
    for i in range(0, len(vms)):
        vm = vms[i]
        host = hosts[i]
        task = session.xenapi.Async.VM.pool_migrate(vm, host, {"live": "true"})
        tasks.append(task)

    finished = False
    records = {}
    deadline = time.monotonic() + 30
    while not finished:
        finished = True
        for task in tasks:
            record = session.xenapi.task.get_record(task)
            records[task] = record
            if record["status"] == "pending":
                finished = False
        assert time.monotonic() < deadline, "migration tasks still pending after 30 s"
        if not finished:
            time.sleep(0.05)

    allok = True
    for task in tasks:
        record = records[task]
        if record["status"] != "success":
            allok = False

    if not allok:
        lines = []
        for idx, task in enumerate(tasks):
            record = records[task]
            vm_name = session.xenapi.VM.get_name_label(vms[idx])
            host_name = session.xenapi.host.get_name_label(hosts[idx])
            lines.append("%s : %12s %s -> %s [ status: %s; result = %s; error = %s ]" %
                         (record["uuid"], record["name_label"], vm_name, host_name,
                          record["status"], record["result"], repr(record["error_info"])))
        raise AssertionError("One of the tasks didn't succeed:\n" + "\n".join(lines))
    for task in tasks:
        session.xenapi.task.destroy(task)
    return dict(zip(vms, hosts))


@pytest.mark.slow
def test_permute_xenmotion_on_a_simulated_pool(make_engine):
    e = make_engine(["--sim-hosts", "3", "--sync", "normal"], env=ENGINE_ENV)
    session = e.client("unix").login("root", "")
    x = session.xenapi
    pool = x.pool.get_all()[0]
    hosts = sorted(x.host.get_all())
    assert len(hosts) == 3
    default_sr = x.pool.get_default_SR(pool)
    assert x.SR.get_shared(default_sr) is True, "a simulated pool's default SR is shared"
    assert set(x.SR.get_PBDs(default_sr)) >= set(p for h in hosts for p in x.host.get_PBDs(h)
                                                   if x.PBD.get_SR(p) == default_sr)
    tmpl = find_template(x, "Debian Etch 4.0")

    names = {}
    for i, h in enumerate(hosts):
        vm = x.VM.clone(tmpl, f"perm{i}")
        x.VM.provision(vm)
        for vbd in x.VM.get_VBDs(vm):
            assert x.VDI.get_SR(x.VBD.get_VDI(vbd)) == default_sr
        x.VM.start_on(vm, h, False, False)
        assert x.VM.get_resident_on(vm) == h
        names[vm] = f"perm{i}"
    for vm, name in names.items():
        with e.guest_console(name) as con:
            con.shell()
            assert con.run("hostname").strip() == name

    log = []
    for iteration in range(3):
        before = {vm: x.VM.get_resident_on(vm) for vm in names}
        moved = permute_main(session, iteration, log)
        assert set(moved) == set(names), log
        assert all(moved[vm] != before[vm] for vm in names), "a rotation of 3 distinct hosts moves every VM"
        for vm, h in moved.items():
            r = x.VM.get_record(vm)
            assert r["power_state"] == "Running"
            assert r["resident_on"] == h, f"iteration {iteration}: {names[vm]} on {r['resident_on']}, want {h}"
            assert vm in x.host.get_resident_VMs(h)
            for other in hosts:
                if other != h:
                    assert vm not in x.host.get_resident_VMs(other)
            assert re.fullmatch(r"[1-9]\d*", r["domid"]), r["domid"]
            assert len(r["consoles"]) == 1
            loc = x.console.get_location(r["consoles"][0])
            assert loc.startswith(f"https://{x.host.get_address(h)}/"), f"console {loc} is not on {h}"
            check_devices_attached(x, vm, True)
        # the guests kept running and still answer on their consoles
        for vm, name in names.items():
            with e.guest_console(name) as con:
                con.shell()
                assert con.run("xenstore-read domid").strip() == x.VM.get_domid(vm)
                assert con.run("hostname").strip() == name
    assert log == ["%d: Found 3 suitable running VMs" % i for i in range(3)]
    session.logout()
