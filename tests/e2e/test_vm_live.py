"""Changes to a running VM (VM.set_VCPUs_number_live, set_memory_target_live,
add_to_VCPUs_params_live, set_shadow_multiplier_live) reaching the simulated
guest and the records, and the read-only VM questions (get_boot_record,
maximise_memory)."""
import pytest

from xconlib import expect_failure, etch_vm

ENGINE_ENV = {"XCON_SIM_TIME_SCALE": "0", "XCON_SIM_HOST_MEMORY": "32G"}


@pytest.fixture
def vm(x):
    vm = etch_vm(x, "live")
    x.VM.set_VCPUs_max(vm, "4")
    yield vm
    if x.VM.get_power_state(vm) != "Halted":
        x.VM.hard_shutdown(vm)
    x.VM.destroy(vm)


def test_live_changes_need_a_running_vm(x, vm):
    expect_failure(x.VM.set_VCPUs_number_live, vm, "2", code="VM_BAD_POWER_STATE",
                   params=[vm, "running", "halted"])
    expect_failure(x.VM.set_memory_target_live, vm, str(128 << 20), code="VM_BAD_POWER_STATE")


def test_vcpus_and_memory_live(x, vm):
    x.VM.start(vm, False, False)
    x.VM.set_VCPUs_number_live(vm, "3")
    metrics = x.VM.get_metrics(vm)
    assert x.VM_metrics.get_VCPUs_number(metrics) == "3"
    expect_failure(x.VM.set_VCPUs_number_live, vm, "9", code="INVALID_VALUE", params=["nvcpu", "9"])
    smax = int(x.VM.get_memory_static_max(vm))
    target = smax // 2
    x.VM.set_memory_target_live(vm, str(target))
    assert x.VM.get_memory_target(vm) == str(target)
    assert x.VM_metrics.get_memory_actual(metrics) == str(target)
    expect_failure(x.VM.set_memory_target_live, vm, str(smax * 2), code="MEMORY_CONSTRAINT_VIOLATION")
    # Nothing is left marked in flight, and a failed change changed nothing.
    assert x.VM.get_current_operations(vm) == {}
    assert x.VM_metrics.get_VCPUs_number(metrics) == "3"


def test_scheduler_and_shadow_settings(x, vm):
    x.VM.start(vm, False, False)
    x.VM.add_to_VCPUs_params_live(vm, "weight", "512")
    assert x.VM.get_VCPUs_params(vm)["weight"] == "512"
    x.VM.set_shadow_multiplier_live(vm, 2.0)
    assert float(x.VM.get_HVM_shadow_multiplier(vm)) == 2.0
    expect_failure(x.VM.set_shadow_multiplier_live, vm, 0.5, code="INVALID_VALUE")


def test_boot_record_and_maximise_memory(x, vm):
    rec = x.VM.get_boot_record(vm)
    assert rec["uuid"] == x.VM.get_uuid(vm)
    assert x.VM.maximise_memory(vm, str((1 << 30) + 12345), True) == str(1 << 30)
    assert x.VM.maximise_memory(vm, str((1 << 30) + 12345), False) == str((1 << 30) + 12345)


def test_possible_hosts_and_boot_checks(x, vm):
    host = x.pool.get_master(x.pool.get_all()[0])
    assert x.VM.get_possible_hosts(vm) == [host]
    x.VM.assert_can_boot_here(vm, host)
    total = int(x.host_metrics.get_memory_total(x.host.get_metrics(host)))
    for f in ("static_max", "dynamic_max", "dynamic_min", "static_min"):
        getattr(x.VM, f"set_memory_{f}")(vm, str(total * 2))
    f = expect_failure(x.VM.assert_can_boot_here, vm, host, code="HOST_NOT_ENOUGH_FREE_MEMORY")
    assert int(f.params[0]) == total * 2 and int(f.params[1]) < total
    assert x.VM.get_possible_hosts(vm) == []
    x.host.disable(host)
    try:
        expect_failure(x.VM.assert_can_boot_here, vm, host, code="HOST_DISABLED", params=[host])
    finally:
        x.host.enable(host)
