"""<class>.get_all_where and get_all_records_where: xapi's hidden filtered
forms, with its row filter language (xapi-protocol.md §2; xapi's
db_filter_parse.mly): literals and fields compared with =, and, or, not,
true, false and parentheses; "and" and "or" share one level and group to
the left, "not" takes the rest of the expression."""
import pytest

from xconlib import expect_failure

NAMES = ["flt-a", "flt-b", "flt-c", "flt-d"]


@pytest.fixture(scope="module")
def vms(root):
    refs = {}
    for i, n in enumerate(NAMES):
        refs[n] = root.call("VM.create", {"name_label": n, "name_description": "same" if i % 2 else n,
                                          "PV_args": "", "memory_static_max": str((i + 1) << 28),
                                          "other_config": {"flt": str(i)}})
    root.call("VM.set_is_a_template", refs["flt-d"], True)
    return refs


def where(root, expr):
    mine = set(root.call("VM.get_all_where", expr))
    recs = root.call("VM.get_all_records_where", expr)
    assert set(recs) == mine, f"get_all_where and get_all_records_where disagree on {expr!r}"
    for ref, rec in recs.items():
        assert rec == root.call("VM.get_record", ref)
    return mine


def flt(root, vms, expr):
    """The test VMs among what expr selects, by name."""
    got = where(root, expr)
    return sorted(n for n, r in vms.items() if r in got)


@pytest.mark.parametrize("expr, want", [
    ('field "name_label"="flt-a"', ["flt-a"]),
    ('field "name__label"="flt-b"', ["flt-b"]),  # xapi's database name
    ('field "name_label" = "flt-c"', ["flt-c"]),
    ('field "is_a_template"="true"', ["flt-d"]),
    ('field "memory_static_max"="536870912"', ["flt-b"]),
    ('field "memory__static_max"="805306368"', ["flt-c"]),
    ('field "power_state"="Halted" and field "is_a_template"="false" and field "name_description"="same"', ["flt-b"]),
    ('field "name_label"="flt-a" or field "name_label"="flt-c"', ["flt-a", "flt-c"]),
    # one level, to the left: (a or b) and not-template
    ('field "name_label"="flt-a" or field "name_label"="flt-d" and field "is_a_template"="false"', ["flt-a"]),
    ('field "name_label"="flt-a" or (field "name_label"="flt-d" and field "is_a_template"="false")', ["flt-a"]),
    ('field "name_label"="flt-d" or (field "name_label"="flt-a" and field "is_a_template"="false")', ["flt-a", "flt-d"]),
    # "not" takes the rest: not (a and b)
    ('not field "name_label"="flt-a" and field "name_label"="flt-a"', ["flt-b", "flt-c", "flt-d"]),
    ('(not field "name_label"="flt-a") and field "name_label"="flt-a"', []),
    ('field "name_label"="flt-b" and not field "is_a_template"="true"', ["flt-b"]),
    ('field "name_label"=field "name_description"', ["flt-a", "flt-c"]),
    ('"x"="x" and field "name_description"="same"', ["flt-b", "flt-d"]),
    ('"x"="y" or false', []),
    ('true', NAMES),
    ('  ( ( true ) )\n', NAMES),
    ('field "memory_static_max"="lots"', []),       # not an int: equals nothing
    ('field "is_a_template"="yes"', []),
    ('field "power_state"="Flying"', []),
    ('field "other_config"="()" and field "name_label"="flt-a"', []),
])
def test_expressions(root, vms, expr, want):
    assert flt(root, vms, expr) == want


def test_refs_and_other_classes(root, vms):
    host = root.call("host.get_all")[0]
    dom0 = [r for r, v in root.call("VM.get_all_records").items() if v["is_control_domain"]]
    assert where(root, f'field "resident_on"="{host}" and field "is_control_domain"="true"') == set(dom0)
    assert root.call("host.get_all_where", f'field "uuid"="{root.call("host.get_uuid", host)}"') == [host]
    srs = root.call("SR.get_all_records_where", 'field "type"="file"')
    assert srs and all(v["type"] == "file" for v in srs.values())


@pytest.mark.parametrize("expr, says", [
    ('', "filter expression"),
    ('field "name_label"', "expected ="),
    ('field "name_label"=', "expected a"),
    ('field name_label="x"', "unexpected character at offset 6"),
    ('field true="x"', "expected a quoted field name"),
    ('field "no_such_field"="x"', 'VM has no field "no_such_field"'),
    ('field "VBDs"="()"', "cannot be filtered on"),
    ('"unterminated', "without its closing quote"),
    ('field "name_label"="x', "without its closing quote"),
    ('true true', "unexpected text"),
    ('(true', "expected )"),
    ('true and', "filter expression"),
    ('tru', "unexpected character"),
    ('x' * 5000, "unexpected character"),
    ('(' * 10000 + 'true' + ')' * 10000, "nested too deeply"),
    ('not ' * 10000 + 'true', "nested too deeply"),
    (' and '.join(['true'] * 6000), "too long"),
    (' or '.join(['field "name_label"="x"'] * 600), "too long"),
    (' and '.join(['true or true'] * 100), "nested too deeply"),
])
def test_bad_expressions_say_why(root, engine, expr, says):
    for m in ("VM.get_all_where", "VM.get_all_records_where"):
        f = expect_failure(root.call, m, expr, code="INTERNAL_ERROR")
        assert says in f.params[0], f.params
    engine.assert_clean()


def test_longest_chain_runs(root, vms):
    """The longest expression accepted still runs: SQLite gets it whole."""
    chain = " or ".join(f'field "name_label"="{n}"' for n in NAMES * 40)  # 160 terms
    assert flt(root, vms, chain) == NAMES
    assert flt(root, vms, " and ".join(["true"] * 256)) == NAMES
    assert flt(root, vms, " and ".join(["true or true"] * 40)) == NAMES  # 80 alternations


def test_over_json_rpc(engine, root, vms):
    j = engine.json()
    got = j.call("VM.get_all_records_where", root.ref, 'field "name_label"="flt-c"')
    assert list(got) == [vms["flt-c"]] and got[vms["flt-c"]]["name_label"] == "flt-c"
    assert j.call("VM.get_all_where", root.ref, 'field "name_label"="flt-a"') == [vms["flt-a"]]
    j.close()
