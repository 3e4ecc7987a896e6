"""What a fresh state directory holds after the first start (§11.1, §12.10):
what XenAPI.py, xsconsole and XenCenter read when they connect."""
import os
import re
import xml.dom.minidom
import xmlrpc.client

import pytest

from xconlib import NULL_REF, REF_RE, Failure, expect_failure


def machine_cpus():
    with open("/proc/cpuinfo") as f:
        return sum(1 for line in f if re.match(r"processor\s*:", line))


def machine_nics():
    out = {}
    for dev in sorted(os.listdir("/sys/class/net")):
        if dev == "lo":
            continue
        try:
            with open(f"/sys/class/net/{dev}/address") as f:
                out[dev] = f.read().strip().lower()
        except OSError:
            continue
    return out


@pytest.fixture(scope="module")
def pool(root):
    pools = root.call("pool.get_all")
    assert len(pools) == 1, f"exactly one pool, got {pools}"
    return pools[0]


@pytest.fixture(scope="module")
def host(root, pool):
    return root.call("pool.get_master", pool)


def test_one_pool_mastered_by_the_only_host(root, pool, host):
    hosts = root.call("host.get_all")
    assert hosts == [host]
    recs = root.call("pool.get_all_records")
    assert list(recs) == [pool]
    assert recs[pool]["master"] == host


def test_what_old_xenapi_py_calls_at_login(engine, root):
    """Debian's os-xenapi copy: pool.get_all, pool.get_master,
    host.get_API_version_major/minor right after login."""
    c = engine.client("unix")
    s = c.login("root", "")
    p = s.xenapi.pool.get_all()
    assert len(p) == 1
    m = s.xenapi.pool.get_master(p[0])
    assert s.xenapi.host.get_API_version_major(m) == "1"
    assert s.xenapi.host.get_API_version_minor(m) == "2"


def test_host_versions(root, host):
    rec = root.call("host.get_record", host)
    assert rec["API_version_major"] == "1" and rec["API_version_minor"] == "2"
    assert rec["API_version_vendor"], "API_version_vendor is empty"
    assert isinstance(rec["API_version_vendor_implementation"], dict)
    sv = rec["software_version"]
    for k in ("product_brand", "product_version", "build_number", "xapi", "xen", "linux"):
        assert sv.get(k), f"software_version lacks {k}: {sv}"
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", sv["product_version"]), sv["product_version"]
    assert "xencenter_min" not in sv and "xencenter_max" not in sv, "§11.1: omit xencenter_min/max"
    assert rec["enabled"] is True
    assert rec["name_label"] and rec["hostname"]


def test_host_metrics(root, host):
    m = root.call("host.get_metrics", host)
    assert REF_RE.fullmatch(m)
    rec = root.call("host_metrics.get_record", m)
    assert int(rec["memory_total"]) > 0
    assert 0 <= int(rec["memory_free"]) <= int(rec["memory_total"])
    assert rec["live"] is True
    assert root.call("host_metrics.get_all") == [m]


def test_one_host_cpu_per_processor(root, host):
    cpus = root.call("host.get_host_CPUs", host)
    assert len(cpus) == machine_cpus(), f"{len(cpus)} host_cpu objects for {machine_cpus()} processors"
    numbers = set()
    for c in cpus:
        rec = root.call("host_cpu.get_record", c)
        assert rec["host"] == host
        assert rec["modelname"].strip(), "xsconsole needs host_cpu.modelname"
        assert rec["vendor"]
        numbers.add(int(rec["number"]))
    assert numbers == set(range(len(cpus)))
    assert sorted(root.call("host_cpu.get_all")) == sorted(cpus)


def test_control_domain(root, host):
    recs = root.call("VM.get_all_records")
    doms = {r: v for r, v in recs.items() if v["is_control_domain"]}
    assert len(doms) == 1, f"exactly one control domain, got {len(doms)}"
    ref, dom0 = next(iter(doms.items()))
    assert dom0["power_state"] == "Running"
    assert dom0["domid"] == "0"
    assert dom0["resident_on"] == host
    assert dom0["is_a_template"] is False
    assert ref in root.call("host.get_resident_VMs", host)
    assert root.call("VM.get_domid", ref) == "0"
    assert REF_RE.fullmatch(dom0["metrics"])
    root.call("VM_metrics.get_record", dom0["metrics"])
    cons = dom0["consoles"]
    assert len(cons) >= 1, "the control domain needs a console"
    con = root.call("console.get_record", cons[0])
    assert con["VM"] == ref
    assert con["protocol"] in ("rfb", "vt100")
    assert con["location"]


def test_local_storage(root, host, pool):
    srs = root.call("SR.get_all_records")
    local = {r: v for r, v in srs.items() if v["name_label"] == "Local storage"}
    assert len(local) == 1, [v["name_label"] for v in srs.values()]
    sr, rec = next(iter(local.items()))
    assert rec["PBDs"], "Local storage has no PBD"
    pbds = [root.call("PBD.get_record", p) for p in rec["PBDs"]]
    assert any(p["host"] == host and p["currently_attached"] for p in pbds), "no plugged PBD on the host"
    assert root.call("pool.get_default_SR", pool) != NULL_REF
    assert set(rec["PBDs"]) <= set(root.call("host.get_PBDs", host))
    assert int(rec["physical_size"]) > 0


def test_pifs_for_every_nic(root, host):
    nics = machine_nics()
    pifs = root.call("PIF.get_all_records")
    mine = {r: v for r, v in pifs.items() if v["host"] == host}
    by_dev = {v["device"]: (r, v) for r, v in mine.items() if v["physical"]}
    assert set(by_dev) == set(nics), f"PIF devices {sorted(by_dev)} vs NICs {sorted(nics)}"
    for dev, mac in nics.items():
        ref, rec = by_dev[dev]
        assert rec["MAC"].lower() == mac, f"{dev}: PIF MAC {rec['MAC']} vs {mac}"
        for k in ("management", "physical", "device", "metrics", "network"):
            assert k in rec, f"PIF lacks {k}"
        assert rec["network"] != NULL_REF and rec["metrics"] != NULL_REF
        net = root.call("network.get_record", rec["network"])
        assert ref in net["PIFs"]
        assert net["name_label"]
        pm = root.call("PIF_metrics.get_record", rec["metrics"])
        assert "device_name" in pm
    mgmt = [r for r, v in mine.items() if v["management"]]
    assert len(mgmt) == 1, f"exactly one management PIF, got {len(mgmt)}"
    assert set(root.call("host.get_PIFs", host)) == set(mine)


def test_templates(root, dm):
    recs = root.call("VM.get_all_records")
    tmpl = {v["name_label"]: (r, v) for r, v in recs.items() if v["is_a_template"]}
    names = list(tmpl)
    assert "Debian Etch 4.0" in names
    for family in (r"Red Hat|RHEL", r"CentOS", r"SUSE|SLES", r"Windows"):
        assert any(re.search(family, n) for n in names), f"no {family} template among {names}"
    builtin = [(n, r, v) for n, (r, v) in tmpl.items() if v["other_config"].get("default_template") == "true"]
    assert len(builtin) >= 6
    for name, ref, v in builtin:
        dm.check_record("VM", v, name)
        assert v["power_state"] == "Halted" and v["is_a_template"] is True
        disks = v["other_config"].get("disks")
        assert disks, f"template {name} has no other_config:disks"
        doc = xml.dom.minidom.parseString(disks)
        assert doc.documentElement.tagName == "provision", name
        for d in doc.getElementsByTagName("disk"):
            assert int(d.getAttribute("size")) > 0 and d.getAttribute("device") != ""
    assert tmpl["Debian Etch 4.0"][1]["other_config"]["default_template"] == "true"


def test_session_get_this_host(root, host):
    assert root.call("session.get_this_host", root.ref) == host
    rec = root.call("session.get_record", root.ref)
    assert rec["this_host"] == host and rec["is_local_superuser"] is True


def test_host_get_servertime(root, host):
    t = root.call("host.get_servertime", host)
    assert isinstance(t, xmlrpc.client.DateTime), t
    assert re.fullmatch(r"\d{8}T\d{2}:\d{2}:\d{2}Z", t.value)
    import datetime
    got = datetime.datetime.strptime(t.value, "%Y%m%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((got - now).total_seconds()) < 120
    bogus = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    expect_failure(root.call, "host.get_servertime", bogus, code="HANDLE_INVALID", params=["host", bogus])


def _dom0(root):
    return next(r for r, v in root.call("VM.get_all_records").items() if v["is_control_domain"])


@pytest.mark.parametrize("msg,slots", [("get_allowed_VBD_devices", 16), ("get_allowed_VIF_devices", 7)])
def test_allowed_devices(root, msg, slots):
    dom0 = _dom0(root)
    try:
        devs = root.call(f"VM.{msg}", dom0)
    except Failure as f:
        if f.code == "NOT_IMPLEMENTED":
            pytest.xfail(f"VM.{msg} is NOT_IMPLEMENTED")
        raise
    assert isinstance(devs, list) and devs and all(re.fullmatch(r"\d+", d) for d in devs), devs
    # a new PV VM: every slot free; taking one removes it from the list
    vm = root.call("VM.create", {"name_label": "devs"})
    free = root.call(f"VM.{msg}", vm)
    assert free == [str(i) for i in range(slots)], free
    if msg == "get_allowed_VIF_devices":
        net = root.call("network.get_all")[0]
        root.call("VIF.create", {"device": "3", "network": net, "VM": vm, "MAC": "02:00:00:00:00:09",
                                 "MTU": "1500", "other_config": {}, "qos_algorithm_type": "",
                                 "qos_algorithm_params": {}})
    else:
        root.call("VBD.create", {"VM": vm, "VDI": NULL_REF, "userdevice": "3", "bootable": False, "mode": "RO",
                                 "type": "CD", "empty": True, "other_config": {}, "qos_algorithm_type": "",
                                 "qos_algorithm_params": {}})
    assert "3" not in root.call(f"VM.{msg}", vm)
    assert len(root.call(f"VM.{msg}", vm)) == slots - 1
