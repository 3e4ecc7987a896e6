"""Events (§7): legacy event.register/next, event.from with tokens,
reverse-set mods, and the errors clients switch on."""
import re
import time

import pytest

from xconlib import REF_RE, Failure, expect_failure


def next_until(s, pred, timeout=10.0):
    """Calls event.next until an event satisfies pred; returns (event, all seen)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        evs = s.call("event.next")
        assert isinstance(evs, list) and evs, "event.next must never return an empty array"
        seen += evs
        for ev in evs:
            if pred(ev):
                return ev, seen
    raise AssertionError(f"no matching event in {len(seen)} events: {[(e['class'], e['operation']) for e in seen]}")


def check_event_record(ev, dm):
    assert set(ev) >= {"id", "timestamp", "class", "operation", "ref"}, ev.keys()
    assert re.fullmatch(r"\d+", ev["id"]), ev["id"]
    assert isinstance(ev["timestamp"], str) and re.fullmatch(r"\d+(\.\d*)?", ev["timestamp"]), ev["timestamp"]
    assert ev["class"] == ev["class"].lower(), "event class names are lowercase"
    assert ev["operation"] in ("add", "mod", "del")
    assert REF_RE.fullmatch(ev["ref"]), ev["ref"]
    cls = next(n for n in dm.classes if n.lower() == ev["class"])
    if ev["operation"] != "del" or "snapshot" in ev:
        if ev["operation"] != "del":
            dm.check_record(cls, ev["snapshot"], f"event {ev['class']} {ev['operation']} snapshot")


@pytest.fixture(scope="module")
def actor(engine):
    return engine.local_session()


def test_register_next_add_mod_del(engine, actor, dm):
    watcher = engine.local_session(timeout=15)  # its own connection
    watcher.call("event.register", ["*"])
    engine.local_session()  # a login: sessions make no events
    vm = actor.call("VM.create", {"name_label": "ev-vm"})
    ev, seen = next_until(watcher, lambda e: e["ref"] == vm and e["operation"] == "add")
    assert ev["class"] == "vm"
    assert ev["snapshot"]["name_label"] == "ev-vm"
    for e in seen:
        check_event_record(e, dm)
    assert not [e for e in seen if e["class"] in ("session", "user", "event")]

    # a VBD changes VM.VBDs (and VDI.VBDs): mods for both
    sr = actor.call("pool.get_default_SR", actor.call("pool.get_all")[0])
    vdi = actor.call("VDI.create", {"name_label": "ev-vdi", "SR": sr, "virtual_size": "1048576", "type": "user",
                                    "sharable": False, "read_only": False, "other_config": {}})
    vbd = actor.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0", "bootable": False, "mode": "RW",
                                    "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                                    "qos_algorithm_params": {}})
    seen = []
    need = {("vbd", "add", vbd), ("vm", "mod", vm), ("vdi", "mod", vdi)}
    deadline = time.monotonic() + 10
    while need and time.monotonic() < deadline:
        for e in watcher.call("event.next"):
            seen.append(e)
            need.discard((e["class"], e["operation"], e["ref"]))
            if (e["class"], e["operation"], e["ref"]) == ("vm", "mod", vm):
                assert vbd in e["snapshot"]["VBDs"], "the VM mod's snapshot must show the new VBD"
    assert not need, f"missing events {need}; saw {[(e['class'], e['operation']) for e in seen]}"

    actor.call("VBD.destroy", vbd)
    actor.call("VM.destroy", vm)
    ev, seen = next_until(watcher, lambda e: e["ref"] == vm and e["operation"] == "del")
    assert ev["class"] == "vm"
    assert any(e["class"] == "vbd" and e["operation"] == "del" and e["ref"] == vbd for e in seen)


def test_register_filters_classes_case_insensitively(engine, actor):
    w = engine.local_session(timeout=15)
    w.call("event.register", ["VM"])
    net = actor.call("network.create", {"name_label": "ev-filter-net", "other_config": {}})
    vm = actor.call("VM.create", {"name_label": "ev-filter"})
    ev, seen = next_until(w, lambda e: e["ref"] == vm)
    assert {e["class"] for e in seen} == {"vm"}, [e["class"] for e in seen]
    assert not [e for e in seen if e["ref"] == net]
    w.call("event.unregister", ["VM"])
    w.call("event.register", ["network"])
    actor.call("VM.set_name_label", vm, "ev-filter-2")
    actor.call("network.set_name_label", net, "ev-filter-net-2")
    ev, seen = next_until(w, lambda e: e["ref"] == net)
    assert {e["class"] for e in seen} == {"network"}
    actor.call("VM.destroy", vm)
    actor.call("network.destroy", net)


def test_next_without_register(engine):
    s = engine.local_session()
    expect_failure(s.call, "event.next", code="SESSION_NOT_REGISTERED")


def test_register_unknown_class(engine):
    s = engine.local_session()
    expect_failure(s.call, "event.register", ["nosuchclass"], code="EVENT_SUBSCRIPTION_PARSE_FAILURE",
                   params=["nosuchclass"])


def test_get_current_id(engine, actor):
    a = int(actor.call("event.get_current_id"))
    vm = actor.call("VM.create", {"name_label": "ev-id"})
    b = int(actor.call("event.get_current_id"))
    assert b > a
    actor.call("VM.destroy", vm)


# ---------------------------------------------------------------------------
# event.from


def test_from_empty_token_returns_everything(engine, actor, dm):
    r = actor.call("event.from", ["*"], "", 1.0)
    assert set(r) == {"events", "valid_ref_counts", "token"}, r.keys()
    assert isinstance(r["token"], str) and r["token"]
    counts = r["valid_ref_counts"]
    assert "task" in counts, "Xen Orchestra needs valid_ref_counts.task"
    by_class = {}
    for ev in r["events"]:
        assert ev["operation"] == "add"
        check_event_record(ev, dm)
        by_class.setdefault(ev["class"], set()).add(ev["ref"])
    for name, c in dm.classes.items():
        if not c.has_records or c.flags & {"DM_C_NO_GET_ALL", "DM_C_NO_EVENTS"}:
            assert name.lower() not in by_class, f"{name} objects must not appear in events"
            continue
        live = set(actor.call(f"{name}.get_all"))
        assert by_class.get(name.lower(), set()) == live, f"event.from '' must list every {name}"
        assert int(counts[name.lower()]) == len(live), (name, counts[name.lower()], len(live))


def test_valid_ref_counts_are_i4(engine, actor):
    """§7.2 / §1.3: valid_ref_counts values are the one int32 on the wire,
    emitted as <i4> (so XML-RPC clients see numbers, not strings)."""
    r = actor.call("event.from", ["vm"], "", 0.0)
    assert isinstance(r["valid_ref_counts"]["vm"], int), \
        f"valid_ref_counts.vm arrived as {r['valid_ref_counts']['vm']!r} (untyped), expected <i4>"


def test_from_times_out_with_new_token(engine, actor):
    tok = actor.call("event.from", ["pool_patch"], "", 0.0)["token"]
    t0 = time.monotonic()
    r = actor.call("event.from", ["pool_patch"], tok, 1.0)
    elapsed = time.monotonic() - t0
    assert r["events"] == []
    assert isinstance(r["token"], str) and r["token"]
    assert 0.9 <= elapsed < 4.0, f"event.from with timeout 1.0 returned after {elapsed:.2f}s"
    # an int timeout is accepted too
    r = actor.call("event.from", ["pool_patch"], r["token"], 0)
    assert r["events"] == []


def test_from_add_mod_del_and_coalescing(engine, actor):
    tok = actor.call("event.from", ["network"], "", 0.0)["token"]
    net = actor.call("network.create", {"name_label": "evf-1", "other_config": {}})
    actor.call("network.set_name_label", net, "evf-2")
    t0 = time.monotonic()
    r = actor.call("event.from", ["network"], tok, 5.0)
    assert time.monotonic() - t0 < 3.0, "event.from must return as soon as something changed"
    mine = [e for e in r["events"] if e["ref"] == net]
    assert len(mine) == 1, f"one entry per object: {mine}"
    assert mine[0]["operation"] == "add" and mine[0]["snapshot"]["name_label"] == "evf-2"
    assert mine[0]["class"] == "network"
    tok = r["token"]
    actor.call("network.set_name_description", net, "d")
    r = actor.call("event.from", ["network"], tok, 5.0)
    (ev,) = [e for e in r["events"] if e["ref"] == net]
    assert ev["operation"] == "mod" and ev["snapshot"]["name_description"] == "d"
    tok = r["token"]
    actor.call("network.destroy", net)
    r = actor.call("event.from", ["network"], tok, 5.0)
    (ev,) = [e for e in r["events"] if e["ref"] == net]
    assert ev["operation"] == "del"
    assert not ev.get("snapshot"), "a del from event.from carries no snapshot"
    # tokens advance
    assert r["token"] != tok


def test_from_mixed_case_classes(engine, actor):
    r = actor.call("event.from", ["VM", "pool", "SR"], "", 0.0)
    assert {e["class"] for e in r["events"]} == {"vm", "pool", "sr"}


def test_from_bad_token(engine, actor):
    for bad in ("garbage", "12x", ",", "1,", "-5", "1,2,3"):
        expect_failure(actor.call, "event.from", ["*"], bad, 0.1, code="EVENT_FROM_TOKEN_PARSE_FAILURE",
                       params=[bad])


def test_from_unknown_class(engine, actor):
    expect_failure(actor.call, "event.from", ["nosuchclass"], "", 0.1, code="EVENT_SUBSCRIPTION_PARSE_FAILURE",
                   params=["nosuchclass"])


def test_inject(engine, actor):
    pool = actor.call("pool.get_all")[0]
    try:
        tok = actor.call("event.inject", "pool", pool)
    except Failure as f:
        if f.code in ("NOT_IMPLEMENTED", "MESSAGE_METHOD_UNKNOWN"):
            pytest.skip("event.inject not implemented")
        raise
    r = actor.call("event.from", ["pool"], tok, 5.0)
    assert [e for e in r["events"] if e["ref"] == pool and e["operation"] == "mod"], r["events"]


def test_barrier_like_xen_orchestra(engine, actor):
    """XO's barrier: write pool.other_config[xo:barrier:*] and wait for the mod."""
    pool = actor.call("pool.get_all")[0]
    tok = actor.call("event.from", ["pool"], "", 0.0)["token"]
    actor.call("pool.add_to_other_config", pool, "xo:barrier:e2e", "1")
    r = actor.call("event.from", ["pool"], tok, 5.0)
    (ev,) = [e for e in r["events"] if e["ref"] == pool]
    assert ev["snapshot"]["other_config"].get("xo:barrier:e2e") == "1"
    actor.call("pool.remove_from_other_config", pool, "xo:barrier:e2e")


# ---------------------------------------------------------------------------
# losing events


def test_events_lost(make_engine, xcon_help):
    if "--event-buffer" not in xcon_help:
        pytest.skip("this xcon build has no --event-buffer option")
    e = make_engine(["--event-buffer", "16"])
    actor = e.local_session()
    w = e.local_session(timeout=15)
    w.call("event.register", ["*"])
    tok = w.call("event.from", ["*"], "", 0.0)["token"]
    vms = [actor.call("VM.create", {"name_label": f"lost-{i}"}) for i in range(40)]
    expect_failure(w.call, "event.next", code="EVENTS_LOST", params=[])
    expect_failure(w.call, "event.from", ["*"], tok, 0.1, code="EVENTS_LOST", params=[])
    # a client that re-registers sees new events again
    w.call("event.unregister", ["*"])
    w.call("event.register", ["*"])
    actor.call("VM.set_name_label", vms[0], "after-lost")
    ev, _ = next_until(w, lambda x: x["ref"] == vms[0])
    assert ev["snapshot"]["name_label"] == "after-lost"
