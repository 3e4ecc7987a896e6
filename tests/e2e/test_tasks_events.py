"""Tasks and events around real VM operations (xapi-protocol.md §6, §7) on
the simulated host, run at real speed (XCON_SIM_TIME_SCALE=1: a domain
takes ~300 ms to create) so a task can be seen pending and cancelled:
Async.VM.start/clone task records, failures carrying the sync error,
task.cancel undoing a start, an engine SIGKILLed under a pending task,
EVENTS_LOST, the event.from token flow Xen Orchestra uses, and events
reaching listeners on both the unix socket and TCP."""
import os
import re
import threading
import time

import pytest

from xconlib import NULL_REF, REF_RE, Failure, expect_failure, wait_for

# a fixed-size simulated host: the same memory figures on every machine
ENGINE_ENV = {"XCON_SIM_TIME_SCALE": "1", "XCON_SIM_HOST_MEMORY": "32G"}
EPOCH = "19700101T00:00:00Z"
FRAG_REF = re.compile(r"^<value>(OpaqueRef:[0-9a-f-]{36})</value>$")


def template(s, name="Debian Etch 4.0"):
    recs = s.call("VM.get_all_records")
    return next(r for r, v in recs.items() if v["is_a_template"] and v["name_label"] == name)


def new_vm(s, name):
    vm = s.call("VM.clone", template(s), name)
    s.call("VM.provision", vm)
    return vm


def finish(s, task, timeout=20.0):
    """Polls like the SDK examples: task.get_status until not pending."""
    wait_for(lambda: s.call("task.get_status", task) != "pending", timeout=timeout, interval=0.01,
             what=f"task {task}")
    return s.call("task.get_record", task)


def check_vm_settled(s, vm, state):
    r = s.call("VM.get_record", vm)
    assert r["power_state"] == state, r["power_state"]
    assert r["current_operations"] == {}, r["current_operations"]
    if state == "Halted":
        assert (r["domid"], r["resident_on"], r["consoles"]) == ("-1", NULL_REF, []), r
        assert "start" in r["allowed_operations"]
    return r


@pytest.fixture(scope="module")
def host(root):
    return root.call("pool.get_master", root.call("pool.get_all")[0])


def test_async_start_task_record(engine, root, host, dm):
    vm = new_vm(root, "tstart")
    task = root.call("Async.VM.start", vm, False, False)
    assert REF_RE.fullmatch(task), task
    rec = root.call("task.get_record", task)
    dm.check_record("task", rec)
    assert rec["status"] == "pending", "Async returns at once: a ~300 ms start is still pending"
    assert rec["name_label"] == "Async.VM.start"
    assert rec["resident_on"] == host
    assert rec["created"].value != EPOCH
    assert rec["finished"].value == EPOCH, "finished stays the epoch while pending"
    assert rec["result"] == "" and rec["error_info"] == []
    assert "cancel" in rec["allowed_operations"]
    assert task in root.call("task.get_all")
    assert task in root.call("task.get_by_name_label", "Async.VM.start")
    # the VM shows the operation, keyed by the task
    wait_for(lambda: root.call("VM.get_current_operations", vm).get(task) == "start"
             or root.call("task.get_status", task) != "pending", timeout=5, what="start in current_operations")

    progress = []
    while True:
        r = root.call("task.get_record", task)
        progress.append(r["progress"])
        if r["status"] != "pending":
            break
        time.sleep(0.01)
    assert progress == sorted(progress), f"progress goes backwards: {progress}"
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert r["status"] == "success", r
    assert r["progress"] == 1.0
    assert r["result"] == "<value></value>", "a void result is an empty value fragment"
    assert r["error_info"] == []
    assert r["allowed_operations"] == [] and r["current_operations"] == {}
    assert r["finished"].value != EPOCH and r["finished"].value >= r["created"].value
    check_vm_settled(root, vm, "Running")
    assert root.call("VM.get_resident_on", vm) == host
    root.call("task.destroy", task)
    root.call("VM.hard_shutdown", vm)


def test_async_clone_result_is_a_ref_fragment(root):
    vm = new_vm(root, "tclone")
    before = set(root.call("VM.get_all"))
    task = root.call("Async.VM.clone", vm, "tclone-copy")
    r = finish(root, task)
    assert r["status"] == "success", r
    assert r["name_label"] == "Async.VM.clone"
    m = FRAG_REF.fullmatch(r["result"])
    assert m, f"Async.VM.clone result should be <value>OpaqueRef:...</value>, got {r['result']!r}"
    new = m.group(1)
    assert set(root.call("VM.get_all")) - before == {new}
    assert root.call("VM.get_name_label", new) == "tclone-copy"
    root.call("task.destroy", task)


@pytest.mark.parametrize("case", ["running", "template", "bad-ref"])
def test_failing_async_carries_the_sync_error(root, case):
    if case == "running":
        vm = new_vm(root, "tfail")
        root.call("VM.start", vm, False, False)
    elif case == "template":
        vm = template(root)
    else:
        vm = "OpaqueRef:" + "0" * 8 + "-0000-4000-8000-" + "0" * 12
    try:
        root.call("VM.start", vm, False, False)
        raise AssertionError("the sync call should fail")
    except Failure as f:
        sync = f.details
    task = root.call("Async.VM.start", vm, False, False)
    r = finish(root, task)
    assert r["status"] == "failure", r
    assert r["error_info"] == sync, f"error_info {r['error_info']} differs from the sync error {sync}"
    assert r["result"] == ""
    assert r["progress"] == 1.0
    assert r["finished"].value != EPOCH
    root.call("task.destroy", task)
    if case == "running":
        root.call("VM.hard_shutdown", vm)


def test_cancel_a_start_leaves_the_vm_halted(root):
    vm = new_vm(root, "tcancel")
    others = set(root.call("VM.get_all"))
    cancelled = 0
    for attempt in range(3):   # the cancel must land while the domain is being built
        task = root.call("Async.VM.start", vm, False, False)
        wait_for(lambda: root.call("VM.get_current_operations", vm).get(task) == "start"
                 or root.call("task.get_status", task) != "pending", timeout=5, what="the start under way")
        root.call("task.cancel", task)
        r = finish(root, task)
        if r["status"] == "success":   # finished before the cancel: try again
            root.call("VM.hard_shutdown", vm)
            root.call("task.destroy", task)
            continue
        assert r["status"] == "cancelled", r
        assert r["error_info"] == ["TASK_CANCELLED", task], r["error_info"]
        assert r["result"] == ""
        cancelled += 1
        break
    assert cancelled, "three starts finished before their cancel landed"
    check_vm_settled(root, vm, "Halted")
    host = root.call("pool.get_master", root.call("pool.get_all")[0])
    assert vm not in root.call("host.get_resident_VMs", host)
    for vbd in root.call("VM.get_VBDs", vm):
        assert root.call("VBD.get_currently_attached", vbd) is False
    assert set(root.call("VM.get_all")) == others, "a cancelled start creates nothing"
    # nothing half-done: the VM starts normally afterwards
    root.call("VM.start", vm, False, False)
    check_vm_settled(root, vm, "Running")
    root.call("VM.hard_shutdown", vm)
    root.call("task.destroy", task)


def test_cancel_a_copy_leaves_no_vm_and_no_disk(root):
    vm = new_vm(root, "tcopy")
    pool = root.call("pool.get_all")[0]
    sr = root.call("pool.get_default_SR", pool)
    sr_dir = root.call("PBD.get_device_config", root.call("SR.get_PBDs", sr)[0])["location"]
    for attempt in range(5):   # the cancel must land before the copy is done
        vms, vdis, files = set(root.call("VM.get_all")), set(root.call("VDI.get_all")), set(os.listdir(sr_dir))
        task = root.call("Async.VM.copy", vm, "tcopy-copy", sr)
        root.call("task.cancel", task)
        r = finish(root, task)
        if r["status"] == "success":
            continue
        assert r["status"] == "cancelled", r
        assert r["error_info"] == ["TASK_CANCELLED", task]
        assert set(root.call("VM.get_all")) == vms, "a cancelled copy leaves no VM"
        assert set(root.call("VDI.get_all")) == vdis, "a cancelled copy leaves no VDI"
        assert set(os.listdir(sr_dir)) == files, "a cancelled copy leaves no disk file"
        check_vm_settled(root, vm, "Halted")
        return
    pytest.skip("five copies finished before their cancel landed")


def test_cancel_a_finished_task(root):
    vm = new_vm(root, "tcancel2")
    task = root.call("Async.VM.clone", vm, "tcancel2-copy")
    finish(root, task)
    f = expect_failure(root.call, "task.cancel", task, code="OPERATION_NOT_ALLOWED")
    assert len(f.params) == 1
    assert root.call("task.get_status", task) == "success"


def test_task_destroy(root):
    vm = new_vm(root, "tdestroy")
    task = root.call("Async.VM.clone", vm, "tdestroy-copy")
    finish(root, task)
    root.call("task.destroy", task)
    expect_failure(root.call, "task.get_record", task, code="HANDLE_INVALID", params=["task", task])
    assert task not in root.call("task.get_all")
    expect_failure(root.call, "task.destroy", task, code="HANDLE_INVALID", params=["task", task])


@pytest.mark.slow
def test_engine_killed_under_a_pending_task(make_engine):
    e = make_engine(env={**ENGINE_ENV, "XCON_SIM_TIME_SCALE": "5"})   # a domain takes ~1.5 s to create
    s = e.local_session()
    vm = new_vm(s, "tkill")
    task = s.call("Async.VM.start", vm, False, False)
    wait_for(lambda: s.call("VM.get_current_operations", vm).get(task) == "start", timeout=5,
             what="the start under way")
    assert s.call("task.get_status", task) == "pending"
    e.kill()
    e.start()
    s = e.local_session()
    r = s.call("task.get_record", task)
    assert r["status"] == "failure", f"a task the dead engine left pending: {r['status']}"
    assert r["error_info"] and re.fullmatch(r"[A-Z][A-Z0-9_]+", r["error_info"][0]), r["error_info"]
    assert len(r["error_info"]) >= 2 and r["error_info"][1], f"say why: {r['error_info']}"
    assert r["finished"].value != EPOCH
    assert r["progress"] == 1.0
    assert r["allowed_operations"] == []
    check_vm_settled(s, vm, "Halted")
    s.call("VM.start", vm, False, False)
    check_vm_settled(s, vm, "Running")


# ---------------------------------------------------------------------------
# events


def test_events_lost_after_more_than_the_buffer(make_engine, xcon_help):
    if "--event-buffer" not in xcon_help:
        pytest.skip("this xcon build has no --event-buffer option yet")
    e = make_engine(["--event-buffer", "16", "--sync", "normal"], env={**ENGINE_ENV, "XCON_SIM_TIME_SCALE": "0.01"})
    s = e.local_session()
    w = e.local_session(timeout=15)
    w.call("event.register", ["vm"])
    vm = s.call("VM.create", {"name_label": "lost"})
    for i in range(40):
        s.call("VM.set_name_label", vm, f"lost{i}")
    expect_failure(w.call, "event.next", code="EVENTS_LOST", params=[])
    # what the guide's loop does: register again and go on
    w.call("event.register", ["vm"])
    s.call("VM.set_name_label", vm, "found")
    evs = w.call("event.next")
    assert any(ev["ref"] == vm and ev["snapshot"]["name_label"] == "found" for ev in evs), evs


def test_event_from_token_flow_like_xen_orchestra(engine, root):
    types = [m[:-len(".get_all_records")] for m in root.client.call("system.listMethods")
             if m.endswith(".get_all_records")]
    assert "VM" in types and "task" in types
    first = root.call("event.from", types, "", 0.1)
    assert set(first) >= {"events", "valid_ref_counts", "token"}
    counts = first["valid_ref_counts"]
    assert "task" in counts, "Xen Orchestra's watcher dies without valid_ref_counts.task"
    assert counts["vm"] == len(root.call("VM.get_all"))
    assert counts["task"] == len(root.call("task.get_all"))
    assert all(ev["operation"] == "add" and "snapshot" in ev for ev in first["events"])
    seen = {(ev["class"], ev["ref"]) for ev in first["events"]}
    for vm in root.call("VM.get_all"):
        assert ("vm", vm) in seen
    token = first["token"]

    # changes since the token: a clone through Async, as XO's callAsync does
    vm = new_vm(root, "tfrom")
    tok2 = root.call("event.from", types, token, 5.0)
    assert ("vm", vm) in {(ev["class"], ev["ref"]) for ev in tok2["events"] if ev["operation"] == "add"}
    token = tok2["token"]
    task = root.call("Async.VM.clone", vm, "tfrom-copy")
    done = None
    deadline = time.monotonic() + 20
    while done is None and time.monotonic() < deadline:
        r = root.call("event.from", types, token, 5.0)
        token = r["token"]
        for ev in r["events"]:
            if ev["class"] == "task" and ev["ref"] == task and ev["snapshot"]["status"] != "pending":
                done = ev["snapshot"]
        assert r["valid_ref_counts"]["task"] == len(root.call("task.get_all"))
    assert done is not None, "the task's completion never came as an event"
    assert done["status"] == "success" and FRAG_REF.fullmatch(done["result"]), done
    clone = FRAG_REF.fullmatch(done["result"]).group(1)

    # deletions come as del, without snapshot
    root.call("task.destroy", task)
    for vbd in root.call("VM.get_VBDs", clone):
        root.call("VBD.destroy", vbd)
    root.call("VM.destroy", clone)
    dels = set()
    deadline = time.monotonic() + 10
    while not {("task", task), ("vm", clone)} <= dels and time.monotonic() < deadline:
        r = root.call("event.from", types, token, 5.0)
        token = r["token"]
        for ev in r["events"]:
            if ev["operation"] == "del":
                dels.add((ev["class"], ev["ref"]))
                assert "snapshot" not in ev or not ev["snapshot"], "event.from del carries no snapshot"
    assert {("task", task), ("vm", clone)} <= dels, dels
    assert r["valid_ref_counts"]["task"] == len(root.call("task.get_all"))
    # a quiet period: an empty batch and a fresh token
    quiet = root.call("event.from", ["vm"], token, 0.2)
    assert quiet["events"] == [] and quiet["token"] >= token


class Listener(threading.Thread):
    def __init__(self, session, ref):
        super().__init__(daemon=True)
        self.session, self.ref = session, ref
        self.got = None
        self.error = None

    def run(self):
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                for ev in self.session.call("event.next"):
                    if ev["ref"] == self.ref and ev["operation"] == "mod" and \
                            ev["snapshot"]["name_label"] == "heard":
                        self.got = ev
                        return
        except Exception as ex:  # noqa: BLE001
            self.error = ex


def test_events_reach_unix_and_tcp_listeners(engine, root, pam_user):
    vm = root.call("VM.create", {"name_label": "tlisten"})
    unix = engine.local_session(timeout=20)
    tcp = engine.login(*pam_user, timeout=20)
    assert tcp.client.transport_name == "tcp" and unix.client.transport_name == "unix"
    listeners = []
    for s in (unix, tcp):
        s.call("event.register", ["vm"])
        listeners.append(Listener(s, vm))
    for l in listeners:
        l.start()
    time.sleep(0.3)   # let both block in event.next
    root.call("VM.set_name_label", vm, "heard")
    for l in listeners:
        l.join(20)
    for l, name in zip(listeners, ("unix", "tcp")):
        assert l.error is None, f"{name} listener: {l.error!r}"
        assert l.got is not None, f"the {name} listener never heard the mod"
        assert l.got["class"] == "vm"
    # and event.from long-polls on both
    toks = [s.call("event.from", ["vm"], "", 0.1)["token"] for s in (unix, tcp)]
    root.call("VM.set_name_description", vm, "again")
    for s, tok in zip((unix, tcp), toks):
        r = s.call("event.from", ["vm"], tok, 10.0)
        assert any(ev["ref"] == vm and ev["snapshot"]["name_description"] == "again" for ev in r["events"])


def test_vbd_create_makes_a_vm_mod(engine, root):
    vm = root.call("VM.create", {"name_label": "tvbd"})
    sr = root.call("pool.get_default_SR", root.call("pool.get_all")[0])
    vdi = root.call("VDI.create", {"name_label": "tvbd-disk", "SR": sr, "virtual_size": str(1 << 20),
                                   "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    w = engine.local_session(timeout=15)
    w.call("event.register", ["vm", "vbd", "vdi"])
    vbd = root.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "1", "bootable": False, "mode": "RW",
                                   "type": "Disk", "empty": False, "other_config": {},
                                   "qos_algorithm_type": "", "qos_algorithm_params": {}})
    evs = []
    deadline = time.monotonic() + 10
    want = {("vbd", vbd, "add"), ("vm", vm, "mod"), ("vdi", vdi, "mod")}
    while not want <= {(e["class"], e["ref"], e["operation"]) for e in evs} and time.monotonic() < deadline:
        evs += w.call("event.next")
    got = {(e["class"], e["ref"], e["operation"]) for e in evs}
    assert want <= got, f"missing {want - got}"
    vm_mod = [e for e in evs if e["ref"] == vm and e["operation"] == "mod"][-1]
    assert vbd in vm_mod["snapshot"]["VBDs"], "the VM's mod snapshot lists the new VBD"
    vdi_mod = [e for e in evs if e["ref"] == vdi and e["operation"] == "mod"][-1]
    assert vbd in vdi_mod["snapshot"]["VBDs"]
