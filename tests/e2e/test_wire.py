"""The wire: XML-RPC replies byte for byte (§1.2, §1.3, §12), the int
encodings clients send, POST paths, JSON-RPC 1.0/2.0 framing (§1.6), the
calling-convention errors, and hostile input that must get a clear error
while the server keeps answering."""
import json
import random
import re
import socket
import xml.parsers.expat

import pytest

from xconlib import DATETIME_RE, REF_RE, Failure, decode_reply, expect_failure, new_ref, unwrap, xml_call, xs

HEAD = b'<?xml version="1.0"?><methodResponse><params><param>'
TAIL = b"</param></params></methodResponse>"


def success_body(value_xml: bytes) -> bytes:
    return (HEAD + b"<value><struct><member><name>Status</name><value>Success</value></member>"
            b"<member><name>Value</name>" + value_xml + b"</member></struct></value>" + TAIL)


def failure_body(*details) -> bytes:
    vals = b"".join(b"<value>" + d.encode() + b"</value>" for d in details)
    return (HEAD + b"<value><struct><member><name>Status</name><value>Failure</value></member>"
            b"<member><name>ErrorDescription</name><value><array><data>" + vals +
            b"</data></array></value></member></struct></value>" + TAIL)


@pytest.fixture(scope="module")
def vm(root):
    """A halted VM of our own with known field values."""
    ref = root.call("VM.create", {"name_label": "wire-vm", "PV_args": "", "memory_static_max": "268435456"})
    root.call("VM.set_other_config", ref, {"a": "1", "b": "x&y"})
    return ref


@pytest.fixture(scope="module")
def template(root):
    recs = root.call("VM.get_all_records")
    return next(r for r, v in recs.items() if v["is_a_template"])


@pytest.fixture(scope="module")
def host(root):
    return root.call("pool.get_master", root.call("pool.get_all")[0])


def raw_call(engine, method, *params_xml, path="/", conn=None):
    own = conn is None
    c = conn or engine.raw()
    try:
        r = c.exchange("POST", path, xml_call(method, *params_xml), {"Content-Type": "text/xml"})
    finally:
        if own:
            c.close()
    return r


def check_xml_reply(r):
    assert r.status == 200, (r.status, r.body[:300])
    assert r.header("content-type") == "text/xml", f"Content-Type must be exactly text/xml, got {r.header('content-type')!r}"
    assert r.body.startswith(HEAD), r.body[:120]
    assert r.body.endswith(TAIL), r.body[-120:]
    assert not re.search(rb">\s+<", r.body), "whitespace between elements breaks Xen Orchestra's parser"
    assert b"<string>" not in r.body, "strings must be untyped <value>s"
    assert b"<fault>" not in r.body
    return r.body


# ---------------------------------------------------------------------------
# reply encodings, byte for byte


def test_ref_and_envelope_bytes(engine, root):
    body = check_xml_reply(raw_call(engine, "pool.get_all", xs(root.ref)))
    pool = root.call("pool.get_all")[0]
    assert body == success_body(b"<value><array><data><value>" + pool.encode() + b"</value></data></array></value>")


def test_untyped_int(engine, root, host):
    body = check_xml_reply(raw_call(engine, "host.get_API_version_major", xs(root.ref), xs(host)))
    assert body == success_body(b"<value>1</value>")
    body = check_xml_reply(raw_call(engine, "host.get_API_version_minor", xs(root.ref), xs(host)))
    assert body == success_body(b"<value>2</value>")


def test_booleans(engine, root, template, vm):
    assert check_xml_reply(raw_call(engine, "VM.get_is_a_template", xs(root.ref), xs(template))) == \
        success_body(b"<value><boolean>1</boolean></value>")
    assert check_xml_reply(raw_call(engine, "VM.get_is_a_template", xs(root.ref), xs(vm))) == \
        success_body(b"<value><boolean>0</boolean></value>")


def test_datetimes(engine, root, host, vm):
    body = check_xml_reply(raw_call(engine, "host.get_servertime", xs(root.ref), xs(host)))
    m = re.fullmatch(re.escape(success_body(b"@@")).replace(b"@@", b"(.*)"), body, re.S)
    assert m, body
    inner = m.group(1).decode()
    assert re.fullmatch(r"<value><dateTime\.iso8601>\d{8}T\d{2}:\d{2}:\d{2}Z</dateTime\.iso8601></value>", inner), inner
    assert check_xml_reply(raw_call(engine, "VM.get_snapshot_time", xs(root.ref), xs(vm))) == \
        success_body(b"<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>")


def test_doubles(engine, root, vm):
    assert check_xml_reply(raw_call(engine, "VM.get_HVM_shadow_multiplier", xs(root.ref), xs(vm))) == \
        success_body(b"<value><double>1</double></value>")
    root.call("VM.set_HVM_shadow_multiplier", vm, 2.25)
    assert check_xml_reply(raw_call(engine, "VM.get_HVM_shadow_multiplier", xs(root.ref), xs(vm))) == \
        success_body(b"<value><double>2.25</double></value>")
    root.call("VM.set_HVM_shadow_multiplier", vm, 1.0)


def test_empty_string_void_and_null_ref(engine, root, vm):
    assert check_xml_reply(raw_call(engine, "VM.get_PV_args", xs(root.ref), xs(vm))) == \
        success_body(b"<value></value>")
    assert check_xml_reply(raw_call(engine, "VM.set_name_description", xs(root.ref), xs(vm), xs("d"))) == \
        success_body(b"<value></value>")
    assert check_xml_reply(raw_call(engine, "VM.get_resident_on", xs(root.ref), xs(vm))) == \
        success_body(b"<value>OpaqueRef:NULL</value>")
    assert check_xml_reply(raw_call(engine, "VM.get_suspend_VDI", xs(root.ref), xs(vm))) == \
        success_body(b"<value>OpaqueRef:NULL</value>")


def test_maps_and_escaping(engine, root, vm):
    body = check_xml_reply(raw_call(engine, "VM.get_other_config", xs(root.ref), xs(vm)))
    assert body == success_body(b"<value><struct><member><name>a</name><value>1</value></member>"
                                b"<member><name>b</name><value>x&amp;y</value></member></struct></value>")
    root.call("VM.set_name_label", vm, 'a<b>&"c"')
    body = check_xml_reply(raw_call(engine, "VM.get_name_label", xs(root.ref), xs(vm)))
    assert body.replace(b"&quot;", b'"') == success_body(b'<value>a&lt;b&gt;&amp;"c"</value>')
    assert root.call("VM.get_name_label", vm) == 'a<b>&"c"'
    root.call("VM.set_name_label", vm, "wire-vm")


def test_failure_bytes(engine, root):
    bogus = new_ref()
    r = raw_call(engine, "VM.get_record", xs(root.ref), xs(bogus))
    assert check_xml_reply(r) == failure_body("HANDLE_INVALID", "VM", bogus)


def test_record_struct_is_compact(engine, root, vm, dm):
    body = check_xml_reply(raw_call(engine, "VM.get_record", xs(root.ref), xs(vm)))
    rec = unwrap(decode_reply(body))
    dm.check_record("VM", rec)


# ---------------------------------------------------------------------------
# what clients send


INT_ENCODINGS = [
    ("i4", "<value><i4>{}</i4></value>", 300),
    ("int", "<value><int>{}</int></value>", 301),
    ("i8", "<value><i8>{}</i8></value>", 8589934592),
    ("string", "<value><string>{}</string></value>", 17179869184),
    ("untyped", "<value>{}</value>", 302),
]


@pytest.mark.parametrize("name,fmt,n", INT_ENCODINGS, ids=[e[0] for e in INT_ENCODINGS])
@pytest.mark.parametrize("field", ["user_version", "memory_static_max"])
def test_int_encodings_accepted(engine, root, vm, name, fmt, n, field):
    r = raw_call(engine, f"VM.set_{field}", xs(root.ref), xs(vm), fmt.format(n))
    assert unwrap(decode_reply(check_xml_reply(r))) == ""
    assert root.call(f"VM.get_{field}", vm) == str(n)


@pytest.mark.parametrize("bad", ["<value>abc</value>", "<value>12abc</value>", "<value>1.5</value>",
                                 "<value><boolean>1</boolean></value>", "<value></value>",
                                 "<value><array><data></data></array></value>"])
def test_non_numeric_int_is_field_type_error(engine, root, vm, bad):
    before = root.call("VM.get_user_version", vm)
    r = raw_call(engine, "VM.set_user_version", xs(root.ref), xs(vm), bad)
    f = expect_failure(lambda: unwrap(decode_reply(check_xml_reply(r))))
    assert f.code == "FIELD_TYPE_ERROR", f.details
    assert len(f.params) == 1
    assert root.call("VM.get_user_version", vm) == before


def test_wrong_typed_string_and_bool_params(engine, root, vm):
    r = raw_call(engine, "VM.set_name_label", xs(root.ref), xs(vm), "<value><int>5</int></value>")
    f = expect_failure(lambda: unwrap(decode_reply(check_xml_reply(r))))
    assert f.code in ("FIELD_TYPE_ERROR", "INTERNAL_ERROR"), f.details
    r = raw_call(engine, "VM.set_is_a_template", xs(root.ref), xs(vm), "<value>true</value>")
    f = expect_failure(lambda: unwrap(decode_reply(check_xml_reply(r))))
    assert f.code in ("FIELD_TYPE_ERROR", "INTERNAL_ERROR"), f.details


def test_floats_accept_int_and_string(engine, root, vm):
    for enc, want in (("<value><int>3</int></value>", 3.0), ("<value>2.5</value>", 2.5),
                      ("<value><double>1.75</double></value>", 1.75)):
        r = raw_call(engine, "VM.set_HVM_shadow_multiplier", xs(root.ref), xs(vm), enc)
        assert unwrap(decode_reply(check_xml_reply(r))) == ""
        assert root.call("VM.get_HVM_shadow_multiplier", vm) == want
    root.call("VM.set_HVM_shadow_multiplier", vm, 1.0)


@pytest.mark.parametrize("path", ["/", "/RPC2", "/xmlrpc", "/some/other/path"])
def test_post_paths(engine, root, path):
    body = check_xml_reply(raw_call(engine, "pool.get_all", xs(root.ref), path=path))
    assert unwrap(decode_reply(body)) == root.call("pool.get_all")
    c = engine.client("tcp", path=path)  # and through xmlrpc.client
    assert c.call("pool.get_all", root.ref) == root.call("pool.get_all")


def test_keep_alive_many_calls_one_connection(engine, root):
    conn = engine.raw()
    try:
        for i in range(50):
            r = raw_call(engine, "pool.get_all", xs(root.ref), conn=conn)
            check_xml_reply(r)
    finally:
        conn.close()


def test_access_control_header(engine, root):
    r = raw_call(engine, "pool.get_all", xs(root.ref))
    assert r.header("access-control-allow-origin") == "*"


# ---------------------------------------------------------------------------
# calling-convention errors


@pytest.mark.parametrize("name", ["VM.no_such_message", "nosuchclass.get_all", "VM", "Async.VM.no_such"])
def test_unknown_method(engine, root, name):
    # §5: the param is the method name without the Async. prefix
    want = name[len("Async."):] if name.startswith("Async.") else name
    expect_failure(root.call, name, code="MESSAGE_METHOD_UNKNOWN", params=[want])
    jc = engine.json()
    r = jc.request(name, [root.ref], v2=True)
    assert r["error"] == {"code": 1, "message": "MESSAGE_METHOD_UNKNOWN", "data": [want]}, r
    jc.close()


@pytest.mark.parametrize("name", ["VM.get_name_label", "VM.get_all", "VM.get_record", "pool.get_all_records",
                                  "VM.set_name_label", "session.logout", "event.next"])
def test_async_of_sync_only_is_unknown(root, name):
    vm = root.call("VM.get_all")[0]
    args = {"VM.get_name_label": [vm], "VM.get_record": [vm], "VM.set_name_label": [vm, "x"]}.get(name, [])
    f = expect_failure(root.call, "Async." + name, *args, code="MESSAGE_METHOD_UNKNOWN")
    assert f.params[0] in (name, "Async." + name), f.details
    assert root.call("VM.get_all"), "the session must still be valid"


@pytest.mark.parametrize("method,args,expected", [
    ("VM.get_name_label", [], "1"),
    ("VM.set_name_label", ["x"], "2"),
    ("VM.create", [], "1"),
    ("pool.get_all", ["extra"], "0"),
    ("VM.start", ["OpaqueRef:NULL"], "3"),
    ("event.from", [["*"]], "3"),
])
def test_wrong_arity(root, method, args, expected):
    expect_failure(root.call, method, *args, code="MESSAGE_PARAMETER_COUNT_MISMATCH",
                   params=[method, expected, str(len(args))])


def test_optional_params_may_be_omitted(root):
    """host.disable(host, auto_enable?) style: the required count is enough,
    and the mismatch error names only the required count."""
    f = expect_failure(root.call, "VM.snapshot", code="MESSAGE_PARAMETER_COUNT_MISMATCH")
    assert f.params == ["VM.snapshot", "2", "0"], f.details
    f = expect_failure(root.call, "host.evacuate", code="MESSAGE_PARAMETER_COUNT_MISMATCH")
    assert f.params == ["host.evacuate", "1", "0"], f.details


# ---------------------------------------------------------------------------
# JSON-RPC


@pytest.fixture
def jc(engine):
    c = engine.json()
    yield c
    c.close()


def test_jsonrpc_v1_success_and_failure(jc, root):
    r = jc.request("pool.get_all", [root.ref], id=11)
    assert set(r) == {"result", "error", "id"}, r
    assert r["error"] is None and r["id"] == 11
    assert r["result"] == root.call("pool.get_all")
    bogus = new_ref()
    r = jc.request("VM.get_record", [root.ref, bogus], id=12)
    assert r == {"result": None, "error": ["HANDLE_INVALID", "VM", bogus], "id": 12}
    r = jc.request("VM.get_all", [root.ref], id="str-id")
    assert r["id"] == "str-id"


def test_jsonrpc_v2_success_and_failure(jc, root):
    r = jc.request("pool.get_all", [root.ref], v2=True, id=21)
    assert set(r) == {"jsonrpc", "result", "id"}, r
    assert r["jsonrpc"] == "2.0" and r["id"] == 21
    bogus = new_ref()
    r = jc.request("VM.get_record", [root.ref, bogus], v2=True, id="x-22")
    assert r == {"jsonrpc": "2.0", "error": {"code": 1, "message": "HANDLE_INVALID", "data": ["VM", bogus]},
                 "id": "x-22"}
    r = jc.request("no.such", [root.ref], v2=True, id=23)
    assert r["error"] == {"code": 1, "message": "MESSAGE_METHOD_UNKNOWN", "data": ["no.such"]}
    r = jc.request("VM.get_name_label", [root.ref], v2=True, id=24)
    assert r["error"] == {"code": 1, "message": "MESSAGE_PARAMETER_COUNT_MISMATCH",
                          "data": ["VM.get_name_label", "1", "0"]}


def test_jsonrpc_v2_params_may_be_omitted(jc):
    status, headers, data = jc.post(json.dumps({"jsonrpc": "2.0", "method": "system.listMethods", "id": 1}))
    assert status == 200 and headers["content-type"] == "application/json"
    r = json.loads(data)
    assert "VM.get_all" in r["result"]


def test_jsonrpc_value_types(jc, root, vm, host):
    assert jc.call("host.get_API_version_major", root.ref, host) == 1
    assert jc.call("VM.get_is_a_template", root.ref, vm) is False
    t = jc.call("host.get_servertime", root.ref, host)
    assert isinstance(t, str) and DATETIME_RE.fullmatch(t), t
    assert jc.call("VM.get_HVM_shadow_multiplier", root.ref, vm) == 1
    assert jc.call("VM.set_name_description", root.ref, vm, "json") == ""
    r = jc.request("VM.set_name_description", [root.ref, vm, "json1"], id=5)
    assert r["result"] == "" and r["error"] is None
    # ints are accepted as JSON integers and as strings
    jc.call("VM.set_user_version", root.ref, vm, 41)
    assert root.call("VM.get_user_version", vm) == "41"
    jc.call("VM.set_user_version", root.ref, vm, "42")
    assert jc.call("VM.get_user_version", root.ref, vm) == 42


def test_jsonrpc_record_matches_xmlrpc(jc, root, vm, dm):
    x = root.call("VM.get_record", vm)
    j = jc.call("VM.get_record", root.ref, vm)
    assert list(j) == list(x), "same fields in the same order"
    for f in dm.classes["VM"].fields:
        xv, jv = x[f.name], j[f.name]
        k = f.type[0]
        if k == "int":
            assert isinstance(jv, int) and jv == int(xv), (f.name, xv, jv)
        elif k == "datetime":
            assert jv == xv.value, (f.name, xv, jv)
        elif k == "float":
            assert isinstance(jv, (int, float)) and float(jv) == xv
        else:
            assert jv == xv, (f.name, xv, jv)


def test_jsonrpc_login_and_shared_sessions(engine, jc, pam_user):
    user, pw = pam_user
    ref = jc.call("session.login_with_password", user, pw, v2=True)
    assert REF_RE.fullmatch(ref)
    # usable over XML-RPC too
    assert engine.client("tcp").call("pool.get_all", ref)
    # (one failed login only: each costs PAM's delay)
    r = jc.request("session.login_with_password", [user, pw + "nope"], id=9)
    assert r == {"result": None, "error": ["SESSION_AUTHENTICATION_FAILED", user, "Authentication failure"],
                 "id": 9}
    jc.call("session.logout", ref)


# ---------------------------------------------------------------------------
# hostile input


def deep_xml(levels, closed=True):
    inner = "<value><array><data>" * levels + "<value>x</value>"
    if closed:
        inner += "</data></array></value>" * levels
    return xml_call("VM.get_by_name_label", "<value>OpaqueRef:x</value>", inner)


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><methodCall><methodName>VM.get_by_name_label</methodName><params><param><value>x</value>'
                    b"</param><param><value>&lol9;</value></param></params></methodCall>")

_rng = random.Random(1234)
GARBAGE = bytes(_rng.getrandbits(8) for _ in range(8192))

# (id, path, body) -- answered with HTTP 200 and the protocol's failure
APP_LEVEL = [
    ("malformed-xml", "/", b"<?xml version='1.0'?><methodCall><methodName>pool.get_all</methodName><params><param>"
                           b"<value></struct></param></params></methodCall>"),
    ("truncated-xml", "/", xml_call("pool.get_all", "<value>OpaqueRef:x</value>")[:60]),
    ("binary-garbage", "/", GARBAGE),
    ("empty-body", "/", b""),
    ("not-a-methodcall", "/", b'<?xml version="1.0"?><foo><bar/></foo>'),
    ("no-methodname", "/", b'<?xml version="1.0"?><methodCall><params></params></methodCall>'),
    ("deep-nesting", "/", deep_xml(100000)),
    ("deep-nesting-unclosed", "/", deep_xml(200000, closed=False)),
    ("billion-laughs", "/", BILLION_LAUGHS),
    ("many-members", "/", xml_call("VM.get_by_name_label", "<value>x</value>", "<value><struct>" + "".join(
        f"<member><name>k{i}</name><value>v</value></member>" for i in range(50000)) + "</struct></value>")),
    ("invalid-utf8-method", "/", xml_call("VM.get_all") .replace(b"VM.get_all", b"VM.get_\xff\xfeall")),
    ("invalid-utf8-param", "/", xml_call("VM.get_by_name_label", "<value>OpaqueRef:x</value>",
                                         "<value>@@</value>").replace(b"@@", b"\xc3\x28\xa0\xa1")),
    ("unknown-value-type", "/", xml_call("pool.get_all", "<value><bogus>1</bogus></value>")),
    ("nul-bytes", "/", xml_call("pool.get_all", "<value>OpaqueRef:@@</value>").replace(b"@@", b"\x00\x00")),
    ("json-garbage", "/jsonrpc", b"{not json"),
    ("json-binary", "/jsonrpc", GARBAGE),
    ("json-no-id", "/jsonrpc", b'{"method":"pool.get_all","params":["OpaqueRef:x"]}'),
    ("json-null-id", "/jsonrpc", b'{"method":"pool.get_all","params":["OpaqueRef:x"],"id":null}'),
    ("json-params-object", "/jsonrpc", b'{"method":"pool.get_all","params":{"a":1},"id":1}'),
    ("json-params-string", "/jsonrpc", b'{"jsonrpc":"2.0","method":"pool.get_all","params":"x","id":1}'),
    ("json-not-object", "/jsonrpc", b"[1,2,3]"),
    ("json-method-not-string", "/jsonrpc", b'{"method":5,"params":[],"id":1}'),
    ("json-deep", "/jsonrpc", b'{"method":"VM.get_all","id":1,"params":' + b"[" * 100000 + b"]" * 100000 + b"}"),
    ("json-invalid-utf8", "/jsonrpc", b'{"method":"pool.get_all","params":["\xff\xfe"],"id":1}'),
    ("json-empty", "/jsonrpc", b""),
]


def check_alive(engine, root, conn=None):
    """A normal call answers, on conn (when given) and on a fresh connection."""
    assert engine.running(), f"xcon died:\n{engine.log_tail()}"
    for c in ([conn] if conn else []) + [None]:
        r = raw_call(engine, "pool.get_all", xs(root.ref), conn=c)
        assert unwrap(decode_reply(check_xml_reply(r))), "no pool"
    assert root.call("pool.get_all")


def assert_protocol_error(path, r):
    assert r.status == 200 or 400 <= r.status < 600, r.status
    if r.status != 200:
        return
    if path == "/jsonrpc":
        assert r.header("content-type") == "application/json", r.headers
        obj = json.loads(r.body)
        assert isinstance(obj, dict) and obj.get("error") not in (None, []), obj
        assert obj.get("result") is None
        if isinstance(obj["error"], dict):
            assert isinstance(obj["error"].get("code"), int) and isinstance(obj["error"].get("message"), str)
        assert "id" in obj
    else:
        body = check_xml_reply(r)
        # well-formed XML whatever was echoed back
        p = xml.parsers.expat.ParserCreate()
        p.Parse(body, True)
        f = expect_failure(lambda: unwrap(decode_reply(body)))
        assert f.code, f.details


@pytest.mark.parametrize("case,path,body", APP_LEVEL, ids=[c[0] for c in APP_LEVEL])
def test_hostile_body(engine, root, case, path, body):
    conn = engine.raw(timeout=60)
    try:
        ctype = "application/json" if path == "/jsonrpc" else "text/xml"
        r = conn.exchange("POST", path, body, {"Content-Type": ctype})
        assert_protocol_error(path, r)
        check_alive(engine, root, conn if r.status == 200 else None)
    finally:
        conn.close()


def test_json_missing_id_is_rejected(engine):
    c = engine.json()
    status, headers, data = c.post(b'{"jsonrpc":"2.0","method":"system.listMethods","params":[]}')
    obj = json.loads(data)
    assert status == 200 and headers["content-type"] == "application/json"
    assert "result" not in obj or obj["result"] is None, "a request without id (a notification) must not run"
    assert obj["error"]["code"] == -32600 and obj["id"] is None, obj
    c.close()


def test_huge_string_param(engine, root):
    big = "x" * (2 << 20)
    r = raw_call(engine, "VM.get_by_name_label", xs(root.ref), xs(big))
    assert unwrap(decode_reply(check_xml_reply(r))) == []
    check_alive(engine, root)


def test_content_length_100mb_is_413(engine, root):
    conn = engine.raw()
    try:
        conn.request("POST", "/", b"", {"Content-Type": "text/xml"}, content_length=100 << 20)
        r = conn.response()
        assert r.status == 413, (r.status, r.body[:200])
    finally:
        conn.close()
    conn = engine.raw()
    try:  # with some body on its way too
        conn.request("POST", "/jsonrpc", b"{" + b" " * 65536, {"Content-Type": "application/json"},
                     content_length=100 << 20)
        r = conn.response()
        assert r.status == 413, r.status
    finally:
        conn.close()
    check_alive(engine, root)


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "TRACE", "BREW"])
def test_wrong_http_methods(engine, root, method):
    conn = engine.raw()
    try:
        r = conn.exchange(method, "/", b"")
        assert 400 <= r.status < 600 and r.status not in (500,), (method, r.status)
    finally:
        conn.close()
    check_alive(engine, root)


def test_get_is_not_an_api_call(engine, root):
    conn = engine.raw()
    try:
        r = conn.exchange("GET", "/", b"")
        assert r.status in (200, 404, 405)
        r = conn.exchange("GET", "/jsonrpc", b"")
        assert r.status != 200 or b"methodResponse" not in r.body
    finally:
        conn.close()
    check_alive(engine, root)


RAW_HTTP = [
    ("garbage-request", GARBAGE[:2000] + b"\r\n\r\n"),
    ("bad-request-line", b"POST\r\n\r\n"),
    ("bad-version", b"POST / HTTP/9.9\r\nContent-Length: 0\r\n\r\n"),
    ("negative-length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
    ("non-numeric-length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n"),
    ("header-bomb", b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300000 + b"\r\nContent-Length: 0\r\n\r\n"),
    ("many-headers", b"POST / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(20000))
     + b"Content-Length: 0\r\n\r\n"),
    ("bad-chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("case,data", RAW_HTTP, ids=[c[0] for c in RAW_HTTP])
def test_malformed_http(engine, root, case, data):
    conn = engine.raw(timeout=20)
    try:
        try:
            conn.send(data)
            r = conn.response()
            assert r.status != 200 or b"Failure" in r.body, (case, r.status, r.body[:200])
        except (ConnectionError, OSError):
            pass  # closing the connection is a fine answer to garbage
    finally:
        conn.close()
    check_alive(engine, root)


def test_truncated_body_then_close(engine, root):
    conn = engine.raw(timeout=10)
    try:
        conn.request("POST", "/", b"<?xml version=", content_length=1000)
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.closed_by_peer(10), "the server must drop a connection whose body never comes"
    finally:
        conn.close()
    check_alive(engine, root)


def test_abandoned_connections(engine, root):
    """Clients that vanish mid-headers or mid-body leave the server fine."""
    for data in (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le", b"POST / HTTP/1.1\r\nContent-Length: 50\r\n\r\n<?x"):
        for _ in range(20):
            c = engine.raw()
            c.send(data)
            c.close()
    check_alive(engine, root)


def test_valid_chunked_request(engine, root):
    body = xml_call("pool.get_all", xs(root.ref))
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    conn = engine.raw()
    try:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + chunked)
        r = conn.response()
        if r.status == 200:
            assert unwrap(decode_reply(check_xml_reply(r))) == root.call("pool.get_all")
        else:
            assert 400 <= r.status < 500
    finally:
        conn.close()
    check_alive(engine, root)


@pytest.mark.parametrize("how", ["xml-base64", "json-controls"])
def test_odd_strings_come_back_well_formed(engine, root, vm, how):
    """Bytes that are not valid UTF-8 (a <base64> param) or control
    characters (legal in JSON, not in XML 1.0) may be stored; every reply
    that carries them must still be well-formed XML and valid JSON."""
    if how == "xml-base64":
        import base64
        enc = base64.b64encode(b"\xff\xfe\x01\x00ok\xc3\x28").decode()
        r = raw_call(engine, "VM.set_name_description", xs(root.ref), xs(vm), f"<value><base64>{enc}</base64></value>")
        try:
            assert unwrap(decode_reply(check_xml_reply(r))) == ""
        except Failure:
            pass  # refusing such a string is fine too
    else:
        jc = engine.json()
        jc.call("VM.set_name_description", root.ref, vm, "a\u0001b\u001fc\ufffe")
        jc.close()
    r = raw_call(engine, "VM.get_name_description", xs(root.ref), xs(vm))
    body = check_xml_reply(r)
    p = xml.parsers.expat.ParserCreate()
    p.Parse(body, True)
    r = raw_call(engine, "VM.get_record", xs(root.ref), xs(vm))
    xml.parsers.expat.ParserCreate().Parse(check_xml_reply(r), True)
    jc = engine.json()
    status, headers, data = jc.post(json.dumps({"method": "VM.get_record", "params": [root.ref, vm], "id": 1}))
    data.decode("utf-8")  # strict: valid UTF-8
    json.loads(data)
    jc.close()
    root.call("VM.set_name_description", vm, "")


def test_http_1_0_request(engine, root):
    conn = engine.raw()
    try:
        body = xml_call("pool.get_all", xs(root.ref))
        conn.send(b"POST / HTTP/1.0\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        r = conn.response()
        assert r.status == 200
        assert unwrap(decode_reply(check_xml_reply(r))) == root.call("pool.get_all")
    finally:
        conn.close()


def test_pipelined_requests(engine, root):
    a = xml_call("pool.get_all", xs(root.ref))
    b = xml_call("VM.no_such_message", xs(root.ref))
    req = b"".join(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s"
                   % (len(x), x) for x in (a, b, a))
    conn = engine.raw()
    try:
        conn.send(req)
        r1, r2, r3 = conn.response(), conn.response(), conn.response()
        assert unwrap(decode_reply(check_xml_reply(r1))) == root.call("pool.get_all")
        expect_failure(lambda: unwrap(decode_reply(check_xml_reply(r2))), code="MESSAGE_METHOD_UNKNOWN")
        assert r3.body == r1.body
    finally:
        conn.close()


def test_expect_100_continue(engine, root):
    """curl sends Expect: 100-continue for bodies over 1 KB."""
    body = xml_call("VM.get_by_name_label", xs(root.ref), xs("y" * 4096))
    conn = engine.raw()
    try:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        interim = conn.response(head=True)
        assert interim.status == 100, interim.status
        conn.send(body)
        r = conn.response()
        assert unwrap(decode_reply(check_xml_reply(r))) == []
    finally:
        conn.close()


def test_connection_close_is_honoured(engine, root):
    conn = engine.raw()
    try:
        r = conn.exchange("POST", "/", xml_call("pool.get_all", xs(root.ref)), {"Connection": "close"})
        check_xml_reply(r)
        assert conn.closed_by_peer(5), "the server must close after answering Connection: close"
    finally:
        conn.close()


def test_engine_survived_the_module(engine, root):
    check_alive(engine, root)
    engine.assert_clean()
