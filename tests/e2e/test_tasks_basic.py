"""Tasks (§6): Async.* calls return a task at once; the task ends with the
result as an XML-RPC value fragment (over JSON-RPC too) or error_info."""
import re
import time

import pytest

from xconlib import REF_RE, expect_failure, new_ref, wait_for

FRAG_REF = re.compile(r"^<value>(OpaqueRef:[0-9a-f-]{36})</value>$")


def wait_done(s, task, timeout=15.0):
    return wait_for(lambda: s.call("task.get_status", task) != "pending" and s.call("task.get_record", task),
                    timeout=timeout, interval=0.02, what=f"task {task} to finish")


@pytest.fixture(scope="module")
def host(root):
    return root.call("pool.get_master", root.call("pool.get_all")[0])


def test_async_create_and_destroy(engine, root, host, dm):
    t0 = time.monotonic()
    task = root.call("Async.VM.create", {"name_label": "async-vm", "VCPUs_max": "2"})
    assert time.monotonic() - t0 < 3.0
    assert REF_RE.fullmatch(task), task
    rec = root.call("task.get_record", task)
    dm.check_record("task", rec)
    assert rec["status"] in ("pending", "success"), rec["status"]
    assert rec["name_label"] == "Async.VM.create"
    assert rec["resident_on"] == host
    assert 0.0 <= rec["progress"] <= 1.0
    assert rec["created"].value != "19700101T00:00:00Z"
    assert task in root.call("task.get_all")

    rec = wait_done(root, task)
    assert rec["status"] == "success", rec
    assert rec["progress"] == 1.0
    assert rec["finished"].value != "19700101T00:00:00Z"
    assert rec["error_info"] == []
    assert rec["allowed_operations"] == []
    m = FRAG_REF.fullmatch(rec["result"])
    assert m, f"task.result must be an XML-RPC <value> fragment, got {rec['result']!r}"
    vm = m.group(1)
    assert root.call("VM.get_name_label", vm) == "async-vm"
    assert root.call("VM.get_VCPUs_max", vm) == "2"
    assert root.call("task.get_result", task) == rec["result"]

    # the same fragment over JSON-RPC
    jc = engine.json()
    assert jc.call("task.get_result", root.ref, task) == rec["result"]
    assert jc.call("task.get_record", root.ref, task)["result"] == rec["result"]
    jc.close()

    task2 = root.call("Async.VM.destroy", vm)
    rec2 = wait_done(root, task2)
    assert rec2["status"] == "success", rec2
    assert rec2["result"] == "<value></value>", f"a void result is an empty <value>: {rec2['result']!r}"
    assert rec2["name_label"] == "Async.VM.destroy"
    expect_failure(root.call, "VM.get_record", vm, code="HANDLE_INVALID")
    for t in (task, task2):
        root.call("task.destroy", t)
        expect_failure(root.call, "task.get_record", t, code="HANDLE_INVALID", params=["task", t])


def test_async_failure_ends_in_error_info(root):
    bogus = new_ref()
    task = root.call("Async.VM.destroy", bogus)
    assert REF_RE.fullmatch(task)
    rec = wait_done(root, task)
    assert rec["status"] == "failure", rec
    assert rec["error_info"] == ["HANDLE_INVALID", "VM", bogus], rec["error_info"]
    assert rec["result"] == ""
    assert rec["progress"] == 1.0
    assert rec["finished"].value != "19700101T00:00:00Z"
    root.call("task.destroy", task)


def test_async_checks_before_the_task_exist(engine, root):
    before = set(root.call("task.get_all"))
    expect_failure(root.call, "Async.VM.destroy", code="MESSAGE_PARAMETER_COUNT_MISMATCH",
                   params=["VM.destroy", "1", "0"])
    bogus = new_ref()
    c = engine.client("tcp")
    expect_failure(c.call, "Async.VM.create", bogus, {}, code="SESSION_INVALID", params=[bogus])
    f = expect_failure(root.call, "Async.VM.create", "not a record")
    assert f.code in ("FIELD_TYPE_ERROR", "INTERNAL_ERROR"), f.details
    assert set(root.call("task.get_all")) == before, "no task for a call refused up front"


def test_task_create_and_destroy(root, host):
    t = root.call("task.create", "e2e-label", "e2e description")
    rec = root.call("task.get_record", t)
    assert rec["name_label"] == "e2e-label" and rec["name_description"] == "e2e description"
    assert rec["status"] == "pending"
    assert rec["result"] == ""
    assert "cancel" not in rec["allowed_operations"]
    assert t in root.call("task.get_by_name_label", "e2e-label")
    expect_failure(root.call, "task.cancel", t, code="OPERATION_NOT_ALLOWED")
    assert root.call("task.destroy", t) == ""
    expect_failure(root.call, "task.get_record", t, code="HANDLE_INVALID", params=["task", t])
    assert t not in root.call("task.get_all")
    bogus = new_ref()
    expect_failure(root.call, "task.destroy", bogus, code="HANDLE_INVALID", params=["task", bogus])


def test_cancel_finished_task(root):
    # several rounds, cancelling as soon as the status says success: the
    # task must count as finished from the moment its record says so
    for i in range(30):
        task = root.call("Async.VM.create", {"name_label": f"cancel-late-{i}"})
        deadline = time.monotonic() + 15
        while root.call("task.get_status", task) == "pending":  # no pause: cancel the moment it is done
            assert time.monotonic() < deadline, "task never finished"
        f = expect_failure(root.call, "task.cancel", task, code="OPERATION_NOT_ALLOWED")
        rec = root.call("task.get_record", task)
        assert len(f.params) == 1 and f.params[0], f.details
        after = root.call("task.get_record", task)
        assert after["status"] == "success", "a refused cancel must not change the task"
        assert after["current_operations"] == {}, f"a finished task shows {after['current_operations']}"
        vm = FRAG_REF.fullmatch(rec["result"]).group(1)
        root.call("VM.destroy", vm)
        root.call("task.destroy", task)
    bogus = new_ref()
    expect_failure(root.call, "task.cancel", bogus, code="HANDLE_INVALID", params=["task", bogus])


def test_tasks_make_events(engine, root):
    w = engine.local_session(timeout=15)  # a missing event fails the test instead of hanging it
    w.call("event.register", ["task"])
    task = root.call("Async.VM.create", {"name_label": "task-events"})
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen += w.call("event.next")
        mine = [e for e in seen if e["ref"] == task]
        if any(e["operation"] == "add" for e in mine) and \
                any(e.get("snapshot", {}).get("status") == "success" for e in mine):
            break
    else:
        raise AssertionError(f"task add/mod events missing: {[(e['operation'], e.get('snapshot', {}).get('status')) for e in seen]}")
    assert {e["class"] for e in seen} == {"task"}
    root.call("task.destroy", task)
    ev = None
    while ev is None:
        ev = next((e for e in w.call("event.next") if e["ref"] == task and e["operation"] == "del"), None)
    assert "snapshot" not in ev or ev["snapshot"]["uuid"]


def test_many_async_calls(root):
    tasks = [root.call("Async.VM.create", {"name_label": f"many-{i}"}) for i in range(12)]
    for t in tasks:
        rec = wait_done(root, t)
        assert rec["status"] == "success", rec
        root.call("VM.destroy", FRAG_REF.fullmatch(rec["result"]).group(1))
        root.call("task.destroy", t)
