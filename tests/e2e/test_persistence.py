"""State survives restarts (SIGTERM) and crashes (SIGKILL): every write the
engine acknowledged is there afterwards, and the database stays intact."""
import random
import shutil
import sqlite3
import threading
import time


from xconlib import REF_RE, Failure, expect_failure


def integrity(path):
    con = sqlite3.connect(str(path))
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


def snapshot_classes(s, dm):
    out = {}
    for name, c in dm.classes.items():
        if c.has_records and "DM_C_NO_GET_ALL" not in c.flags:
            out[name] = sorted(s.call(f"{name}.get_all"))
    return out


def norm(v):
    import xmlrpc.client
    if isinstance(v, xmlrpc.client.DateTime):
        return v.value
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def test_restart_keeps_objects_fields_and_sessions(make_engine, pam_user, dm):
    e = make_engine()  # default --sync full
    s = e.local_session()
    tcp = e.login(*pam_user)
    pool = s.call("pool.get_all")[0]
    host = s.call("pool.get_master", pool)
    sr = s.call("pool.get_default_SR", pool)
    net = s.call("network.get_all")[0]

    vm = s.call("VM.create", {"name_label": "persist-vm", "memory_static_max": "536870912", "VCPUs_max": "2"})
    s.call("VM.set_name_description", vm, "survives restarts ünï")
    s.call("VM.add_to_other_config", vm, "k1", "v1")
    s.call("VM.set_platform", vm, {"acpi": "true", "pae": "false"})
    s.call("VM.add_tags", vm, "tag-a")
    s.call("VM.set_HVM_shadow_multiplier", vm, 2.5)
    s.call("VM.set_is_a_template", vm, True)
    vdi = s.call("VDI.create", {"name_label": "persist-vdi", "name_description": "", "SR": sr,
                                "virtual_size": "4194304", "type": "user", "sharable": False,
                                "read_only": False, "other_config": {"o": "p"}})
    vbd = s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0", "bootable": True, "mode": "RW",
                                "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                                "qos_algorithm_params": {}})
    vif = s.call("VIF.create", {"device": "0", "network": net, "VM": vm, "MAC": "02:00:00:aa:bb:cc",
                                "MTU": "1500", "other_config": {}, "qos_algorithm_type": "",
                                "qos_algorithm_params": {}})
    net2 = s.call("network.create", {"name_label": "persist-net", "name_description": "d", "other_config": {},
                                     "tags": []})
    s.call("pool.add_to_other_config", pool, "persist", "yes")
    s.call("host.set_name_description", host, "renamed host")
    doomed = s.call("VM.create", {"name_label": "persist-doomed"})
    s.call("VM.destroy", doomed)
    task = s.call("task.create", "persist-task", "pending across a restart")
    s.call("session.add_to_other_config", s.ref, "sk", "sv")

    objs = {"VM": vm, "VDI": vdi, "VBD": vbd, "VIF": vif, "network": net2, "pool": pool, "host": host}
    before = {k: s.call(f"{k}.get_record", r) for k, r in objs.items()}
    classes = snapshot_classes(s, dm)

    e.restart()

    c = e.client("unix")
    s2 = c.login("root", "")
    for k, r in objs.items():
        after = s2.call(f"{k}.get_record", r)
        b, a = norm(before[k]), norm(after)
        # derived on the fly (see test_derived_fields_survive_restart); live figures may move
        for f in ("allowed_operations", "current_operations") + (("memory_overhead",) if k == "host" else ()):
            b.pop(f, None), a.pop(f, None)
        assert a == b, f"{k} {r} changed across the restart:\n" + "\n".join(
            f"  {f}: {b.get(f)!r} -> {a.get(f)!r}" for f in b if b.get(f) != a.get(f))
    after_classes = snapshot_classes(s2, dm)
    assert after_classes == classes, {k: (classes[k], after_classes[k]) for k in classes
                                      if classes[k] != after_classes.get(k)}
    expect_failure(s2.call, "VM.get_record", doomed, code="HANDLE_INVALID")
    # first start does not run again
    assert s2.call("pool.get_all") == [pool]
    # sessions survive, on both transports
    assert s2.call("session.get_other_config", s.ref) == {"sk": "sv"}
    assert c.call("VM.get_name_label", s.ref, vm) == "persist-vm"
    assert e.client("tcp").call("VM.get_name_label", tcp.ref, vm) == "persist-vm"
    # a task the previous run left pending can never finish: it is not pending now
    assert s2.call("task.get_status", task) in ("failure", "cancelled")
    e.stop()
    assert integrity(e.state_dir / "xcon.db") == [("ok",)]


def test_derived_fields_survive_restart(make_engine):
    """allowed_operations is kept current at every change (§3), so a restart,
    which recomputes it, must find nothing to change."""
    e = make_engine()
    s = e.local_session()
    vm = s.call("VM.create", {"name_label": "derived"})
    tmpl = s.call("VM.create", {"name_label": "derived-template", "is_a_template": True})
    sr = s.call("pool.get_default_SR", s.call("pool.get_all")[0])
    vdi = s.call("VDI.create", {"name_label": "derived-vdi", "SR": sr, "virtual_size": "1048576", "type": "user",
                                "sharable": False, "read_only": False, "other_config": {}})
    flipped = s.call("VM.create", {"name_label": "derived-flipped"})
    s.call("VM.set_is_a_template", flipped, True)  # a setter changes what is allowed too
    objs = [("VM", vm), ("VM", tmpl), ("VM", flipped), ("VDI", vdi)]
    before = {r: (s.call(f"{c}.get_allowed_operations", r), s.call(f"{c}.get_current_operations", r))
              for c, r in objs}
    e.restart()
    s = e.local_session()
    for c, r in objs:
        after = (s.call(f"{c}.get_allowed_operations", r), s.call(f"{c}.get_current_operations", r))
        assert sorted(after[0]) == sorted(before[r][0]), \
            f"{c} {r}: allowed_operations {before[r][0]} before the restart, {after[0]} after"
        assert after[1] == before[r][1]


def test_storage_driver_record_is_brought_up_to_date(make_engine):
    """A state directory from an older xcon, whose SM record predates
    VDI_RESIZE_ONLINE: the next start registers the driver afresh, as xapi
    does its SM plugins, and online resize works; an up-to-date record is
    left alone (no write, so no event, at every start)."""
    e = make_engine()
    s = e.local_session()
    sm = s.call("SM.get_all")[0]
    caps = s.call("SM.get_capabilities", sm)
    assert "VDI_RESIZE_ONLINE" in caps
    e.stop()
    old = [c for c in caps if c != "VDI_RESIZE_ONLINE"]
    con = sqlite3.connect(str(e.state_dir / "xcon.db"))
    con.execute('UPDATE "SM" SET capabilities = ?', ("".join(f"{len(c)}:{c}" for c in old),))
    con.commit()
    con.close()
    e.start()
    s = e.local_session()
    assert s.call("SM.get_all") == [sm]
    assert sorted(s.call("SM.get_capabilities", sm)) == sorted(caps)
    assert "storage driver 'file': capabilities updated" in e.log
    e.restart()
    assert e.log.count("storage driver 'file'") == 1


class Writer(threading.Thread):
    """Streams writes on its own connection and records each acknowledged one."""

    def __init__(self, engine, tag):
        super().__init__(daemon=True)
        self.s = engine.local_session(timeout=30)
        self.tag = tag
        self.acked = []        # (op, vm, arg)
        self.inflight = None
        self.error = None

    def run(self):
        i = 0
        vm = None
        try:
            while True:
                if i % 4 == 0:
                    label = f"{self.tag}-{i}"
                    self.inflight = ("create", None, label)
                    vm = self.s.call("VM.create", {"name_label": label})
                    self.acked.append(("create", vm, label))
                elif i % 4 == 1:
                    label = f"{self.tag}-{i}-renamed"
                    self.inflight = ("rename", vm, label)
                    self.s.call("VM.set_name_label", vm, label)
                    self.acked.append(("rename", vm, label))
                else:
                    self.inflight = ("other_config", vm, str(i))
                    self.s.call("VM.add_to_other_config", vm, f"k{i}", str(i))
                    self.acked.append(("other_config", vm, str(i)))
                self.inflight = None
                i += 1
        except Failure as f:
            self.error = f
        except Exception:  # noqa: BLE001 - the engine was killed under us
            pass


def test_sigkill_loses_no_acknowledged_write(make_engine, tmp_path):
    # --sync normal: the weaker mode still keeps every commit across a
    # process crash (only power loss may take the last ones)
    e = make_engine(["--sync", "normal"])
    rng = random.Random()
    for rnd in range(2):
        writers = [Writer(e, f"k9r{rnd}w{w}") for w in range(2)]
        for w in writers:
            w.start()
        wait_until = time.monotonic() + rng.uniform(0.3, 1.5)
        while time.monotonic() < wait_until:
            time.sleep(0.05)
        e.kill()
        for w in writers:
            w.join(30)
            assert not w.is_alive()
            assert w.error is None, f"writer failed before the kill: {w.error}"
            assert w.acked, "no write was acknowledged before the kill"

        # the crashed files, as left on disk, are intact
        crash = tmp_path / f"crash{rnd}"
        crash.mkdir()
        for suffix in ("", "-wal"):
            src = e.state_dir / f"xcon.db{suffix}"
            if src.exists():
                shutil.copy(src, crash / src.name)
        assert integrity(crash / "xcon.db") == [("ok",)]

        e.start()
        s = e.local_session()
        recs = s.call("VM.get_all_records")
        for w in writers:
            expect = {}
            for op, vm, arg in w.acked:
                st = expect.setdefault(vm, {"labels": [], "keys": {}})
                if op in ("create", "rename"):
                    st["labels"] = [arg]
                else:
                    st["keys"][f"k{arg}"] = arg
            if w.inflight and w.inflight[0] == "rename" and w.inflight[1] in expect:
                expect[w.inflight[1]]["labels"].append(w.inflight[2])  # may or may not have landed
            for vm, st in expect.items():
                assert vm in recs, f"acknowledged VM.create of {st['labels']} lost after SIGKILL"
                rec = recs[vm]
                assert rec["name_label"] in st["labels"], \
                    f"acknowledged name {st['labels'][0]!r} lost: VM is named {rec['name_label']!r}"
                for k, v in st["keys"].items():
                    assert rec["other_config"].get(k) == v, f"acknowledged other_config {k}={v} lost"
        print(f"round {rnd}: {sum(len(w.acked) for w in writers)} acknowledged writes all present")
        assert REF_RE.fullmatch(s.ref)
    e.stop()
    assert integrity(e.state_dir / "xcon.db") == [("ok",)]
