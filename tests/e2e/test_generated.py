"""Every generated message of every class with records, called the way
clients call it, checked against the datamodel parsed from dm/def/*.def:
get_all, get_all_records, get_record, get_by_uuid, get_by_name_label,
get_<field>, set_<field>, add_to_/remove_from_<map>, add_/remove_<set>,
create and destroy (§3)."""
import secrets
import uuid as uuidlib
import xmlrpc.client

import pytest

from xconlib import NULL_REF, REF_RE, Datamodel, Failure, expect_failure, new_ref

DM = Datamodel()
RECORD_CLASSES = [n for n, c in DM.classes.items() if c.has_records]
MiB = 1 << 20


class World:
    """Refs of the first-start objects the creators need."""

    def __init__(self, s):
        self.s = s
        self.pool = s.call("pool.get_all")[0]
        self.host = s.call("pool.get_master", self.pool)
        self.sr = s.call("pool.get_default_SR", self.pool)
        assert self.sr != NULL_REF, "the pool has no default SR"
        self.network = s.call("network.get_all")[0]

    def refs(self, cname):
        """Live refs of a class, or None where the class has no get_all."""
        if "DM_C_NO_GET_ALL" in DM.classes[cname].flags:
            return None
        return set(self.s.call(f"{cname}.get_all"))

    def foreign_ref(self, cname):
        """A live ref of another class."""
        return self.pool if cname != "pool" else self.host

    # ---- constructor records, every constructor field given
    def vm(self, label=None):
        return {
            "name_label": label or "e2e-vm-" + secrets.token_hex(3), "name_description": "made by test_generated",
            "user_version": "1", "is_a_template": False, "affinity": NULL_REF,
            "memory_static_max": str(512 * MiB), "memory_dynamic_max": str(384 * MiB),
            "memory_dynamic_min": str(256 * MiB), "memory_static_min": str(128 * MiB),
            "memory_target": str(320 * MiB),
            "VCPUs_params": {}, "VCPUs_max": "4", "VCPUs_at_startup": "2",
            "actions_after_shutdown": "destroy", "actions_after_reboot": "restart",
            "actions_after_crash": "restart", "PV_bootloader": "", "PV_kernel": "", "PV_ramdisk": "",
            "PV_args": "", "PV_bootloader_args": "", "PV_legacy_args": "", "HVM_boot_policy": "",
            "HVM_boot_params": {}, "platform": {}, "PCI_bus": "", "other_config": {}, "recommendations": "",
        }

    def bare_sr(self):
        """A new SR record without PBDs (SR.introduce records one without
        touching storage)."""
        types = self.s.call("SR.get_supported_types")
        typ = "file" if "file" in types else types[0]
        return self.s.call("SR.introduce", "", "e2e-bare-sr-" + secrets.token_hex(3), "for PBD.create", typ,
                           "user", False, {})

    def create(self, cname):
        s = self.s
        if cname == "VM":
            return s.call("VM.create", self.vm())
        if cname == "VDI":
            return s.call("VDI.create", {
                "name_label": "e2e-vdi-" + secrets.token_hex(3), "name_description": "", "SR": self.sr,
                "virtual_size": str(4 * MiB), "type": "user", "sharable": False, "read_only": False,
                "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []})
        if cname == "VBD":
            return s.call("VBD.create", {
                # RO, so set_type may turn it into a CD (VBD_CDS_MUST_BE_READONLY)
                "VM": self.create("VM"), "VDI": self.create("VDI"), "userdevice": "0", "bootable": False,
                "mode": "RO", "type": "Disk", "unpluggable": True, "empty": False, "other_config": {},
                "qos_algorithm_type": "", "qos_algorithm_params": {}})
        if cname == "VIF":
            return s.call("VIF.create", {
                "device": "0", "network": self.network, "VM": self.create("VM"), "MAC": "02:16:3e:00:e2:01",
                "MTU": "1500", "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
        if cname == "network":
            return s.call("network.create", {
                "name_label": "e2e-net-" + secrets.token_hex(3), "name_description": "", "MTU": "1500",
                "other_config": {}, "bridge": "", "tags": []})
        if cname == "PBD":
            # a host has one PBD per SR (PBD_EXISTS): a PBD needs an SR of its own
            return s.call("PBD.create", {"host": self.host, "SR": self.bare_sr(),
                                         "device_config": {"location": "/nonexistent/e2e"}, "other_config": {}})
        if cname == "console":
            return s.call("console.create", {"VM": self.create("VM"), "other_config": {}})
        if cname == "user":
            return s.call("user.create", {"short_name": "e2e", "fullname": "E2E user", "other_config": {}})
        raise AssertionError(f"no creator for {cname}")


@pytest.fixture(scope="module")
def world(root):
    return World(root)


@pytest.fixture(scope="module")
def listed(engine):
    names = engine.client("tcp").call("system.listMethods")
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)
    return set(names)


# ---------------------------------------------------------------------------


def test_list_methods_is_every_sync_name(listed, dm):
    assert not [n for n in listed if n.startswith("Async.")], "system.listMethods must not list Async. names"
    want = dm.all_wire_names()
    assert not want - listed, f"missing from system.listMethods: {sorted(want - listed)[:40]}"
    assert not listed - want, f"listed but not in the datamodel: {sorted(listed - want)[:40]}"
    # Xen Orchestra derives the class list from the *.get_all_records names
    classes = {n[: -len(".get_all_records")] for n in listed if n.endswith(".get_all_records")}
    assert {"VM", "host", "pool", "SR", "VDI", "VBD", "VIF", "PIF", "network", "task", "console"} <= classes


def test_every_listed_method_is_answered(engine, listed, dm):
    """No listed name (nor its Async. form where one exists) is
    MESSAGE_METHOD_UNKNOWN; with no arguments each is a count mismatch."""
    c = engine.client("unix")
    no_session = {"system.listMethods"}
    for name in sorted(listed):
        try:
            c.call(name)
        except Failure as f:
            assert f.code == "MESSAGE_PARAMETER_COUNT_MISMATCH", f"{name}(): {f.details}"
            assert f.params[0] == name, f.details
        else:
            assert name in no_session, f"{name}() with no arguments succeeded"
    for name in sorted(dm.async_names()):
        f = expect_failure(c.call, "Async." + name)
        assert f.code == "MESSAGE_PARAMETER_COUNT_MISMATCH", f"Async.{name}(): {f.details}"


@pytest.mark.parametrize("cname", RECORD_CLASSES)
def test_generated_messages(cname, root, world, listed, dm):
    c = dm.classes[cname]
    gen = dm.generated(cname)
    missing = sorted(f"{cname}.{n}" for n in gen if f"{cname}.{n}" not in listed)
    assert not missing, f"generated messages missing from system.listMethods: {missing}"
    done = set()

    def call(name, *args):
        assert name in gen, name
        done.add(name)
        return root.call(f"{cname}.{name}", *args)

    def fails(name, *args, code, params):
        assert name in gen, name
        done.add(name)
        return expect_failure(root.call, f"{cname}.{name}", *args, code=code, params=params)

    refs_of = world.refs
    created = False
    if "create" in gen:
        obj = world.create(cname)
        done.add("create")
        assert REF_RE.fullmatch(obj), obj
        created = True
    elif cname == "session":
        obj = root.ref
    elif cname == "task":
        obj = root.call("task.create", "e2e", "for test_generated")
    else:
        recs = root.call(f"{cname}.get_all_records")
        obj = next(iter(recs), None)

    if "get_all" in gen:
        refs = call("get_all")
        recs = call("get_all_records")
        dm.check_xml(("set", ("ref", cname)), refs, f"{cname}.get_all")
        assert sorted(refs) == sorted(recs), f"{cname}: get_all and get_all_records disagree"
        assert len(set(refs)) == len(refs), f"{cname}.get_all has duplicates"
        for r, rec in list(recs.items())[:40]:
            assert REF_RE.fullmatch(r)
            dm.check_record(cname, rec, f"{cname}[{r}]", refs_of)
        if obj is not None:
            assert obj in refs
        # the hidden filtered forms (xapi's row filter language)
        assert sorted(call("get_all_where", "true")) == sorted(refs)
        assert call("get_all_records_where", "false") == {}
        if obj is not None:
            u = recs[obj]["uuid"]
            assert call("get_all_where", f'field "uuid"="{u}"') == [obj]
            assert list(call("get_all_records_where", f'field "uuid"="{u}"')) == [obj]

    bogus = new_ref()
    foreign = world.foreign_ref(cname)
    if obj is None:
        # An empty class: every per-object message answers HANDLE_INVALID.
        assert call("get_all") == [] and call("get_all_records") == {}
        _bogus_calls(cname, gen, call, fails, bogus, foreign)
        assert done == set(gen), f"not exercised: {sorted(set(gen) - done)}"
        return

    rec = call("get_record", obj)
    dm.check_record(cname, rec, f"{cname}.get_record", refs_of)
    for r in (bogus, foreign):
        fails("get_record", r, code="HANDLE_INVALID", params=[cname, r])

    assert call("get_by_uuid", rec["uuid"]) == obj
    u = str(uuidlib.uuid4())
    fails("get_by_uuid", u, code="UUID_INVALID", params=[cname, u])

    if "get_by_name_label" in gen:
        found = call("get_by_name_label", rec["name_label"])
        dm.check_xml(("set", ("ref", cname)), found)
        assert obj in found
        assert call("get_by_name_label", "no such label " + secrets.token_hex(4)) == []

    # getters: typed, equal to the record, HANDLE_INVALID for bad refs
    for i, f in enumerate(c.fields):
        name = f"get_{f.name}"
        if name not in gen:
            continue
        v = call(name, obj)
        dm.check_xml(f.type, v, f"{cname}.{name}", refs_of)
        if norm(v) != norm(rec[f.name]):
            now = root.call(f"{cname}.get_record", obj)[f.name]  # a live field may have moved on
            assert norm(v) == norm(now) or norm(v) == norm(rec[f.name]), \
                f"{cname}.{name} = {v!r} but get_record says {rec[f.name]!r}"
        r = bogus if i % 2 else foreign
        fails(name, r, code="HANDLE_INVALID", params=[cname, r])

    # setters and container edits on RW fields
    for f in c.fields:
        if f.qual != "RW":
            continue
        orig = root.call(f"{cname}.get_{f.name}", obj)
        setter = f"set_{f.name}"
        if setter in gen:
            newv = sample(f.type, orig, world, field=(cname, f.name))
            assert call(setter, obj, newv) == "", f"{cname}.{setter} must return void (empty string)"
            got = root.call(f"{cname}.get_{f.name}", obj)
            assert norm(got) == norm(newv), f"{cname}.{setter}({newv!r}) then get gives {got!r}"
            call(setter, obj, orig)
            assert norm(root.call(f"{cname}.get_{f.name}", obj)) == norm(orig), f"{cname}.{setter} restore failed"
            fails(setter, bogus, newv, code="HANDLE_INVALID", params=[cname, bogus])
        if f.type[0] == "map" and f"add_to_{f.name}" in gen:
            _map_edits(cname, f, obj, rec["uuid"], call, fails, root, world, bogus)
        if f.type[0] == "set" and f"add_{f.name}" in gen:
            _set_edits(cname, f, obj, call, fails, root, world, bogus)

    if "destroy" in gen:
        assert created
        assert call("destroy", obj) == ""
        fails("get_record", obj, code="HANDLE_INVALID", params=[cname, obj])
        fails("destroy", obj, code="HANDLE_INVALID", params=[cname, obj])
        if "get_all" in gen:
            assert obj not in call("get_all")
        fails("get_by_uuid", rec["uuid"], code="UUID_INVALID", params=[cname, rec["uuid"]])
        fails("destroy", foreign, code="HANDLE_INVALID", params=[cname, foreign])

    assert done == set(gen), f"not exercised: {sorted(set(gen) - done)}"


def _bogus_calls(cname, gen, call, fails, bogus, foreign):
    for name, (kind, f) in gen.items():
        if kind in ("get_all", "get_all_records", "get_all_where", "get_all_records_where"):
            continue
        if kind == "create":
            continue  # (a class with a constructor always has an object here)
        if kind == "get_by_uuid":
            u = str(uuidlib.uuid4())
            fails(name, u, code="UUID_INVALID", params=[cname, u])
        elif kind == "get_by_name_label":
            assert call(name, "no such label") == []
        elif kind in ("get_record", "get", "destroy"):
            for r in (bogus, foreign):
                fails(name, r, code="HANDLE_INVALID", params=[cname, r])
        elif kind == "set":
            fails(name, bogus, sample(f.type, None, None, field=(cname, f.name)), code="HANDLE_INVALID",
                  params=[cname, bogus])
        elif kind == "add_to":
            fails(name, bogus, "k", "v", code="HANDLE_INVALID", params=[cname, bogus])
        elif kind == "remove_from":
            fails(name, bogus, "k", code="HANDLE_INVALID", params=[cname, bogus])
        elif kind in ("add", "remove"):
            fails(name, bogus, "v", code="HANDLE_INVALID", params=[cname, bogus])
        else:
            raise AssertionError(kind)


def _map_edits(cname, f, obj, obj_uuid, call, fails, root, world, bogus):
    get = lambda: root.call(f"{cname}.get_{f.name}", obj)  # noqa: E731
    before = get()
    key = sample(f.type[1], None, world, key=True)
    val = sample(f.type[2], None, world)
    add, rm = f"add_to_{f.name}", f"remove_from_{f.name}"
    assert call(add, obj, key, val) == ""
    m = get()
    assert key in m and norm(m[key]) == norm(val), f"{cname}.{add}({key!r}, {val!r}) -> {m!r}"
    for k, v in before.items():
        assert norm(m.get(k)) == norm(v), f"{cname}.{add} changed other keys"
    fails(add, obj, key, sample(f.type[2], val, world), code="MAP_DUPLICATE_KEY",
          params=[cname, f.name, obj_uuid, key])
    assert norm(get()[key]) == norm(val), "a refused add_to_ must not change the value"
    assert call(rm, obj, key) == ""
    assert key not in get()
    assert call(rm, obj, key) == "", "remove_from_ of a missing key is a no-op"
    assert norm(get()) == norm(before)
    fails(add, bogus, key, val, code="HANDLE_INVALID", params=[cname, bogus])
    fails(rm, bogus, key, code="HANDLE_INVALID", params=[cname, bogus])


def _set_edits(cname, f, obj, call, fails, root, world, bogus):
    get = lambda: root.call(f"{cname}.get_{f.name}", obj)  # noqa: E731
    before = get()
    v = sample(f.type[1], None, world)
    add, rm = f"add_{f.name}", f"remove_{f.name}"
    assert call(add, obj, v) == ""
    assert call(add, obj, v) == "", "add_ to a set is idempotent"
    got = get()
    assert [norm(x) for x in got].count(norm(v)) == 1, f"{cname}.{add} twice -> {got!r}"
    assert call(rm, obj, v) == ""
    assert norm(v) not in [norm(x) for x in get()]
    assert call(rm, obj, v) == "", "remove_ of a missing member is a no-op"
    assert sorted(map(repr, norm(get()))) == sorted(map(repr, norm(before)))
    fails(add, bogus, v, code="HANDLE_INVALID", params=[cname, bogus])
    fails(rm, bogus, v, code="HANDLE_INVALID", params=[cname, bogus])


# ---------------------------------------------------------------------------


def norm(v):
    """Comparable form of a decoded XML-RPC value."""
    if isinstance(v, xmlrpc.client.DateTime):
        return ("dt", v.value)
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v


# Fields whose values the engine checks beyond their type: a valid sample.
FIELD_SAMPLES = {
    ("VBD", "userdevice"): lambda orig: "7" if orig != "7" else "8",  # a free disk slot of a PV VM
}


def sample(t, orig, world, key=False, field=None):
    """A valid value of type t (of field (class, name) if given), different from orig."""
    if field in FIELD_SAMPLES:
        return FIELD_SAMPLES[field](orig)
    k = t[0]
    tag = secrets.token_hex(3)
    if k == "string":
        return f"e2e-{tag}" if key else f"e2e <&> \"q\" 'a' ünï€ {tag}"
    if k == "int":
        return str(int(orig) + 1) if orig is not None else "7"
    if k == "float":
        return (orig or 0.0) + 0.5
    if k == "bool":
        return not orig if orig is not None else True
    if k == "datetime":
        return xmlrpc.client.DateTime("20080318T14:22:05Z")
    if k == "enum":
        vals = DM.enums[t[1]]
        return next((v for v in vals if v != orig), vals[0])
    if k == "ref":
        live = sorted(world.refs(t[1]) or []) if world else []
        other = [r for r in live if r != orig]
        if other:
            return other[0]
        return NULL_REF if orig != NULL_REF else new_ref()
    if k == "set":
        return [sample(t[1], None, world)]
    if k == "map":
        return {sample(t[1], None, world, key=True): sample(t[2], None, world)}
    raise AssertionError(f"no sample for {t}")


# ---------------------------------------------------------------------------


def test_reverse_sets_follow_create_and_destroy(root, world):
    s = root
    vm = world.create("VM")
    vdi = world.create("VDI")
    assert vdi in s.call("SR.get_VDIs", world.sr)
    assert s.call("VM.get_VBDs", vm) == [] and s.call("VDI.get_VBDs", vdi) == []
    vbd = s.call("VBD.create", {
        "VM": vm, "VDI": vdi, "userdevice": "1", "bootable": True, "mode": "RW", "type": "Disk",
        "unpluggable": True, "empty": False, "other_config": {}, "qos_algorithm_type": "",
        "qos_algorithm_params": {}})
    vif = s.call("VIF.create", {
        "device": "0", "network": world.network, "VM": vm, "MAC": "02:16:3e:00:e2:02", "MTU": "1500",
        "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    con = s.call("console.create", {"VM": vm, "other_config": {}})
    assert s.call("VM.get_VBDs", vm) == [vbd]
    assert s.call("VDI.get_VBDs", vdi) == [vbd]
    assert s.call("VM.get_VIFs", vm) == [vif]
    assert vif in s.call("network.get_VIFs", world.network)
    assert s.call("VM.get_consoles", vm) == [con]
    rec = s.call("VM.get_record", vm)
    assert rec["VBDs"] == [vbd] and rec["VIFs"] == [vif] and rec["consoles"] == [con]
    assert s.call("VBD.get_VM", vbd) == vm and s.call("VBD.get_VDI", vbd) == vdi

    s.call("VBD.destroy", vbd)
    assert s.call("VM.get_VBDs", vm) == [] and s.call("VDI.get_VBDs", vdi) == []
    s.call("VIF.destroy", vif)
    assert s.call("VM.get_VIFs", vm) == []
    assert vif not in s.call("network.get_VIFs", world.network)
    s.call("console.destroy", con)
    assert s.call("VM.get_consoles", vm) == []
    s.call("VDI.destroy", vdi)
    assert vdi not in s.call("SR.get_VDIs", world.sr)
    # destroy does not cascade: the VM itself is untouched
    assert s.call("VM.get_name_label", vm).startswith("e2e-vm-")
    s.call("VM.destroy", vm)


def test_create_checks_references(root, world):
    vm = world.create("VM")
    bad = new_ref()
    rec = {"VM": vm, "VDI": bad, "userdevice": "2", "bootable": False, "mode": "RO", "type": "CD",
           "unpluggable": True, "empty": False, "other_config": {}, "qos_algorithm_type": "",
           "qos_algorithm_params": {}}
    expect_failure(root.call, "VBD.create", rec, code="HANDLE_INVALID", params=["VDI", bad])
    rec["VDI"] = world.pool  # a live ref of the wrong class
    expect_failure(root.call, "VBD.create", rec, code="HANDLE_INVALID", params=["VDI", world.pool])
    assert root.call("VM.get_VBDs", vm) == [], "a refused create must leave nothing behind"


def test_create_with_missing_and_unknown_keys(root, world):
    """§3: a 4.x server accepts missing keys generously and ignores unknown ones."""
    vm = root.call("VM.create", {"name_label": "e2e-minimal", "no_such_field": "x"})
    rec = root.call("VM.get_record", vm)
    assert rec["name_label"] == "e2e-minimal"
    assert rec["power_state"] == "Halted"
    assert rec["actions_after_reboot"] == "restart"
    assert rec["VCPUs_max"] == "1"
    assert rec["resident_on"] == NULL_REF
    assert "no_such_field" not in rec
    root.call("VM.destroy", vm)


def test_create_ignores_read_only_fields(root, world):
    vm = root.call("VM.create", dict(world.vm(), uuid="11111111-2222-3333-4444-555555555555",
                                     is_control_domain=True, domid="5", resident_on=world.host))
    rec = root.call("VM.get_record", vm)
    assert rec["uuid"] != "11111111-2222-3333-4444-555555555555", "the uuid is the server's to choose"
    assert rec["is_control_domain"] is False
    assert rec["domid"] == "-1"
    assert rec["resident_on"] == NULL_REF
    root.call("VM.destroy", vm)


def test_create_rejects_ill_typed_fields(root, world):
    rec = dict(world.vm(), VCPUs_max="not a number")
    f = expect_failure(root.call, "VM.create", rec)
    assert f.code in ("FIELD_TYPE_ERROR", "INTERNAL_ERROR"), f.details
    rec = dict(world.vm(), actions_after_crash="explode")
    f = expect_failure(root.call, "VM.create", rec)
    assert f.code in ("FIELD_TYPE_ERROR", "INVALID_VALUE", "INTERNAL_ERROR"), f.details
