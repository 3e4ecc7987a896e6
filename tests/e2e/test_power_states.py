"""VM power states and operations (xapi-protocol.md §4.2) on the simulated
host: every lifecycle call from each of Halted, Running, Paused and
Suspended, either reaching the right state or refused with
VM_BAD_POWER_STATE [vm, expected, actual]; allowed_operations agreeing with
what succeeds; templates and the control domain; guests that power off,
reboot or crash by themselves; memory that does not fit; two clients racing
on one VM."""
import re
import threading

import pytest

from xconlib import NULL_REF, REF_RE, Failure, expect_failure, wait_for

ENGINE_ARGS = ["--sim-hosts", "2"]   # pool_migrate, start_on and resume_on need a second host
# a fixed-size simulated host: the same memory figures on every machine
ENGINE_ENV = {"XCON_SIM_TIME_SCALE": "0.01", "XCON_SIM_HOST_MEMORY": "32G"}

STATES = ["Halted", "Running", "Paused", "Suspended"]
# xapi's power-state order, as VM_BAD_POWER_STATE lists the expected ones
XAPI_ORDER = ["Halted", "Paused", "Suspended", "Running"]

# operation -> (states it starts from, state it ends in; None: the VM is gone)
RULES = {
    "start": ({"Halted"}, "Running"),
    "start_on": ({"Halted"}, "Running"),
    "pause": ({"Running"}, "Paused"),
    "unpause": ({"Paused"}, "Running"),
    "clean_shutdown": ({"Running"}, "Halted"),
    "hard_shutdown": ({"Running", "Paused", "Suspended"}, "Halted"),
    "clean_reboot": ({"Running"}, "Running"),
    "hard_reboot": ({"Running", "Paused"}, "Running"),
    "suspend": ({"Running"}, "Suspended"),
    "resume": ({"Suspended"}, "Running"),
    "resume_on": ({"Suspended"}, "Running"),
    "pool_migrate": ({"Running"}, "Running"),
    "destroy": ({"Halted", "Suspended"}, None),
    "clone": ({"Halted", "Suspended"}, "same"),
    "provision": ({"Halted"}, "Halted"),
}
# operations that leave the VM in another domain (a new domid)
NEW_DOMAIN = {"start", "start_on", "clean_reboot", "hard_reboot", "resume", "resume_on", "pool_migrate"}


class Pool:
    def __init__(self, session):
        self.s = session
        self.x = session.xenapi
        pool = self.x.pool.get_all()[0]
        self.master = self.x.pool.get_master(pool)
        self.hosts = [self.master] + sorted(h for h in self.x.host.get_all() if h != self.master)
        assert len(self.hosts) == 2
        recs = self.x.VM.get_all_records()
        self.template = next(r for r, v in recs.items() if v["name_label"] == "Debian Etch 4.0")
        self.dom0 = next(r for r, v in recs.items() if v["is_control_domain"] and v["resident_on"] == self.master)
        self.n = 0

    def new_vm(self, prefix="ps"):
        self.n += 1
        name = f"{prefix}{self.n}"
        vm = self.x.VM.clone(self.template, name)
        self.x.VM.provision(vm)
        return vm

    def other_host(self, vm):
        here = self.x.VM.get_resident_on(vm)
        return next(h for h in self.hosts if h != here)

    def bring_to(self, vm, state):
        x = self.x
        cur = x.VM.get_power_state(vm)
        if cur == state:
            return vm
        if cur != "Halted":
            x.VM.hard_shutdown(vm)
        if state == "Running":
            x.VM.start(vm, False, False)
        elif state == "Paused":
            x.VM.start(vm, True, False)
        elif state == "Suspended":
            x.VM.start(vm, False, False)
            x.VM.suspend(vm)
        assert x.VM.get_power_state(vm) == state
        return vm

    def args(self, op, vm):
        """The arguments of each operation after the VM."""
        return {
            "start": (False, False),
            "start_on": (self.hosts[1], False, False),
            "resume": (False, False),
            "resume_on": (self.hosts[1], False, False),
            "pool_migrate": (self.other_host(vm) if self.x.VM.get_resident_on(vm) != NULL_REF else self.hosts[1],
                             {"live": "true"}),
            "clone": ("ps-clone",),
        }.get(op, ())


@pytest.fixture(scope="module")
def pool(engine):
    return Pool(engine.local_session())


@pytest.fixture(scope="module")
def vms(pool):
    """One VM per power state, reused by every refused call (they change
    nothing); calls that succeed get a fresh VM."""
    return {st: pool.bring_to(pool.new_vm(f"ps{st.lower()}"), st) for st in STATES}


def check_consistent(x, vm, hosts):
    """The record agrees with itself: power state, domain, host, consoles,
    devices, no operation left in flight."""
    r = x.VM.get_record(vm)
    ps = r["power_state"]
    assert r["current_operations"] == {}, r["current_operations"]
    if ps in ("Running", "Paused"):
        assert re.fullmatch(r"[1-9]\d*", r["domid"]), r["domid"]
        assert r["resident_on"] in hosts
        assert vm in x.host.get_resident_VMs(r["resident_on"])
        assert len(r["consoles"]) == 1
        attached = True
    else:
        assert r["domid"] == "-1", r["domid"]
        assert r["resident_on"] == NULL_REF
        assert all(vm not in x.host.get_resident_VMs(h) for h in hosts)
        assert r["consoles"] == []
        attached = False
    assert (r["suspend_VDI"] != NULL_REF) is (ps == "Suspended"), (ps, r["suspend_VDI"])
    for vbd in r["VBDs"]:
        assert x.VBD.get_currently_attached(vbd) is attached
    for op, (froms, _) in RULES.items():
        if op in ("provision",):
            continue
        assert (op in r["allowed_operations"]) is (ps in froms), \
            f"{ps} VM: allowed_operations {'lacks' if ps in froms else 'has'} {op}: {r['allowed_operations']}"
    return r


def bad_state_params(vm, op, actual):
    froms = RULES[op][0]
    return [vm, sorted(s.lower() for s in froms), actual.lower()]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("op", list(RULES))
def test_operation_from_state(pool, vms, op, state):
    x = pool.x
    froms, to = RULES[op]
    allowed = state in froms
    vm = pool.bring_to(pool.new_vm(), state) if allowed else vms[state]
    before = x.VM.get_record(vm)
    assert (op in before["allowed_operations"]) is allowed, \
        f"{state} VM: allowed_operations {before['allowed_operations']} vs {op}"
    if not allowed:
        f = expect_failure(getattr(x.VM, op), vm, *pool.args(op, vm), code="VM_BAD_POWER_STATE")
        assert len(f.params) == 3, f.details
        want = bad_state_params(vm, op, state)
        got = [f.params[0], sorted(p.strip() for p in f.params[1].split(",")), f.params[2]]
        assert got == want, f"{op} from {state}: {f.details}"
        g = expect_failure(x.VM.assert_operation_valid, vm, op, code="VM_BAD_POWER_STATE")
        assert g.details == f.details
        after = check_consistent(x, vm, pool.hosts)
        assert after["power_state"] == state and after["domid"] == before["domid"], "a refused call changes nothing"
        return

    x.VM.assert_operation_valid(vm, op)
    args = pool.args(op, vm)
    result = getattr(x.VM, op)(vm, *args)
    if to is None:
        expect_failure(x.VM.get_record, vm, code="HANDLE_INVALID", params=["VM", vm])
        assert vm not in x.VM.get_all()
        if before["suspend_VDI"] != NULL_REF:
            expect_failure(x.VDI.get_record, before["suspend_VDI"], code="HANDLE_INVALID")
        return
    if op == "clone":
        assert REF_RE.fullmatch(result) and result != vm
        clone = x.VM.get_record(result)
        assert clone["name_label"] == "ps-clone"
        assert clone["is_a_template"] is False
        assert clone["power_state"] in ("Halted", state), clone["power_state"]
        assert len(clone["VBDs"]) == len(before["VBDs"])
        check_consistent(x, result, pool.hosts)
        to = state
    else:
        assert result == ""
    after = check_consistent(x, vm, pool.hosts)
    assert after["power_state"] == to, f"{op} from {state}: {after['power_state']}, want {to}"
    if op in NEW_DOMAIN:
        assert after["domid"] != before["domid"], f"{op} should leave the VM in a new domain"
    if op in ("start_on", "resume_on"):
        assert after["resident_on"] == args[0]
    if op == "pool_migrate":
        assert after["resident_on"] == args[0] != before["resident_on"]
    if op in ("pause", "unpause", "provision"):
        assert after["domid"] == before["domid"]


def test_bad_power_state_expected_is_formatted_as_xapi(pool, vms):
    x = pool.x
    for op, state in (("hard_shutdown", "Halted"), ("clone", "Running"), ("hard_reboot", "Suspended")):
        vm = vms[state]
        want = ", ".join(s.lower() for s in XAPI_ORDER if s in RULES[op][0])
        expect_failure(getattr(x.VM, op), vm, *pool.args(op, vm), code="VM_BAD_POWER_STATE",
                       params=[vm, want, state.lower()])


@pytest.mark.parametrize("how", ["start", "resume"])
def test_start_and_resume_paused(pool, how):
    x = pool.x
    vm = pool.bring_to(pool.new_vm(), "Halted" if how == "start" else "Suspended")
    getattr(x.VM, how)(vm, True, False)
    r = check_consistent(x, vm, pool.hosts)
    assert r["power_state"] == "Paused"
    x.VM.unpause(vm)
    assert check_consistent(x, vm, pool.hosts)["power_state"] == "Running"
    x.VM.hard_shutdown(vm)


def test_templates_refuse_start(pool):
    x = pool.x
    t = x.VM.clone(pool.template, "ps-template")
    assert x.VM.get_is_a_template(t) is True
    for op in ("start", "start_on"):
        assert op not in x.VM.get_allowed_operations(t)
    expect_failure(x.VM.start, t, False, False, code="VM_IS_TEMPLATE", params=[t, "start"])
    expect_failure(x.VM.start_on, t, pool.master, False, False, code="VM_IS_TEMPLATE", params=[t, "start_on"])
    expect_failure(x.VM.assert_operation_valid, t, "start", code="VM_IS_TEMPLATE", params=[t, "start"])
    assert x.VM.get_power_state(t) == "Halted"
    # what templates do allow
    assert {"clone", "provision"} <= set(x.VM.get_allowed_operations(t))
    c = x.VM.clone(t, "ps-template-clone")
    assert x.VM.get_is_a_template(c) is True
    x.VM.provision(c)
    assert x.VM.get_is_a_template(c) is False


def test_control_domain_refuses_lifecycle(pool):
    x = pool.x
    dom0 = pool.dom0
    r = x.VM.get_record(dom0)
    assert r["is_control_domain"] is True and r["power_state"] == "Running" and r["domid"] == "0"
    for op in ("pause", "clean_shutdown", "hard_shutdown", "clean_reboot", "hard_reboot", "suspend"):
        assert op not in r["allowed_operations"]
        f = expect_failure(getattr(x.VM, op), dom0, code="OPERATION_NOT_ALLOWED")
        assert len(f.params) == 1 and f.params[0], f.details
    assert "pool_migrate" not in r["allowed_operations"]
    expect_failure(x.VM.pool_migrate, dom0, pool.hosts[1], {}, code="OPERATION_NOT_ALLOWED")
    # the power state is checked first
    expect_failure(x.VM.start, dom0, False, False, code="VM_BAD_POWER_STATE", params=[dom0, "halted", "running"])
    after = x.VM.get_record(dom0)
    assert (after["power_state"], after["domid"], after["resident_on"]) == ("Running", "0", pool.master)


# ---------------------------------------------------------------------------
# guests that stop by themselves


@pytest.mark.parametrize("typed,action,field,final", [
    ("poweroff", "destroy", "actions_after_shutdown", "Halted"),
    ("reboot", "restart", "actions_after_reboot", "Running"),
    ("echo c > /proc/sysrq-trigger", "restart", "actions_after_crash", "Running"),
    ("echo c > /proc/sysrq-trigger", "destroy", "actions_after_crash", "Halted"),
], ids=["poweroff-destroy", "reboot-restart", "crash-restart", "crash-destroy"])
def test_guest_stopping_by_itself_is_noticed(engine, pool, typed, action, field, final):
    """Typed at the guest's console: no API call is involved."""
    x = pool.x
    vm = pool.new_vm("self")
    name = x.VM.get_name_label(vm)
    getattr(x.VM, f"set_{field}")(vm, action)
    assert x.VM.get_record(vm)[field] == action
    x.VM.start(vm, False, False)
    domid = x.VM.get_domid(vm)
    with engine.guest_console(name) as con:
        con.shell()
        con.send(typed + "\r")
    expect_reaction(engine, x, pool, vm, domid, final, typed)
    if final == "Running":
        x.VM.hard_shutdown(vm)


def expect_reaction(engine, x, pool, vm, domid, final, what, timeout=10):
    name = x.VM.get_name_label(vm)
    if final == "Halted":
        wait_for(lambda: x.VM.get_power_state(vm) == "Halted", timeout=timeout, what=f"{name} halted after {what}")
        r = check_consistent(x, vm, pool.hosts)
        assert r["domid"] == "-1"
        return
    wait_for(lambda: (lambda r: r["power_state"] == "Running" and r["domid"] not in (domid, "-1")
                      and r["current_operations"] == {})(x.VM.get_record(vm)),
             timeout=timeout, what=f"{name} restarted after {what}")
    r = check_consistent(x, vm, pool.hosts)
    with engine.guest_console(name) as con:
        con.shell()
        assert con.run("xenstore-read domid").strip() == r["domid"], "the console is the new domain's"


@pytest.mark.parametrize("action,final", [("restart", "Running"), ("destroy", "Halted")])
def test_crash_by_send_sysrq_is_noticed(engine, pool, action, final):
    x = pool.x
    vm = pool.new_vm("sysrq")
    x.VM.set_actions_after_crash(vm, action)
    for _ in range(5):   # the bug is a race: a few rounds make it show
        pool.bring_to(vm, "Running")
        domid = x.VM.get_domid(vm)
        x.VM.send_sysrq(vm, "c")
        expect_reaction(engine, x, pool, vm, domid, final, "VM.send_sysrq c", timeout=3)
    if final == "Running":
        x.VM.hard_shutdown(vm)


def test_vm_too_big_for_the_host(pool):
    x = pool.x
    vm = pool.new_vm("big")
    metrics = x.host.get_metrics(pool.master)
    total = int(x.host_metrics.get_memory_total(metrics))
    big = str(total + (1 << 30))
    for f in ("static_max", "dynamic_max", "dynamic_min", "static_min"):
        getattr(x.VM, f"set_memory_{f}")(vm, big)
    assert x.VM.get_memory_static_max(vm) == big
    f = expect_failure(x.VM.start, vm, False, False, code="HOST_NOT_ENOUGH_FREE_MEMORY")
    assert len(f.params) == 2 and all(re.fullmatch(r"\d+", p) for p in f.params), f.details
    needed, available = map(int, f.params)
    assert needed >= int(big), f.details
    assert available < needed and available <= total, f.details
    r = check_consistent(x, vm, pool.hosts)
    assert r["power_state"] == "Halted"
    expect_failure(x.VM.start_on, vm, pool.hosts[1], False, False, code="HOST_NOT_ENOUGH_FREE_MEMORY")
    # back to a size that fits: it starts
    for f in ("static_min", "dynamic_min", "dynamic_max", "static_max"):
        getattr(x.VM, f"set_memory_{f}")(vm, str(256 << 20))
    x.VM.start(vm, False, False)
    assert check_consistent(x, vm, pool.hosts)["power_state"] == "Running"
    x.VM.hard_shutdown(vm)


# ---------------------------------------------------------------------------
# two clients racing on one VM


def race(engine, calls):
    """Runs the calls (method, args) at once, each on its own connection;
    returns [(result or None, Failure or None)]."""
    sessions = [engine.local_session() for _ in calls]
    go = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def one(i, method, args):
        go.wait()
        try:
            out[i] = (sessions[i].call(method, *args), None)
        except Failure as f:
            out[i] = (None, f)

    threads = [threading.Thread(target=one, args=(i, m, a)) for i, (m, a) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(o is not None for o in out), "a racing call never returned"
    return out


@pytest.mark.parametrize("op", ["start", "clean_shutdown"])
def test_two_clients_race_on_one_vm(engine, pool, op):
    x = pool.x
    vm = pool.new_vm("race")
    args = (False, False) if op == "start" else ()
    for _ in range(3):
        pool.bring_to(vm, "Halted" if op == "start" else "Running")
        out = race(engine, [(f"VM.{op}", (vm,) + args)] * 2)
        wins = [r for r, f in out if f is None]
        losses = [f for r, f in out if f is not None]
        assert len(wins) == 1 and len(losses) == 1, f"exactly one {op} wins: {out}"
        f = losses[0]
        assert f.code in ("OTHER_OPERATION_IN_PROGRESS", "VM_BAD_POWER_STATE"), f.details
        assert f.params[0 if f.code == "VM_BAD_POWER_STATE" else 1] == vm, f.details
        r = check_consistent(x, vm, pool.hosts)
        assert r["power_state"] == ("Running" if op == "start" else "Halted")


def test_start_racing_hard_shutdown_ends_consistent(engine, pool):
    x = pool.x
    vm = pool.new_vm("race")
    for _ in range(3):
        pool.bring_to(vm, "Halted")
        out = race(engine, [("VM.start", (vm, False, False)), ("VM.hard_shutdown", (vm,))])
        (_, start_err), (_, stop_err) = out
        assert start_err is None, f"start of a halted VM: {start_err}"
        if stop_err is not None:
            assert stop_err.code in ("OTHER_OPERATION_IN_PROGRESS", "VM_BAD_POWER_STATE"), stop_err.details
        r = check_consistent(x, vm, pool.hosts)
        assert r["power_state"] == ("Running" if stop_err else "Halted"), (out, r["power_state"])
