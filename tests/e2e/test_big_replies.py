"""Big replies: a get_all_records past 256 KB is streamed (chunked, written
as it is read from the store) and must reach every kind of client whole,
identical to what the same call gives small; the engine keeps serving
other calls while one streams, and a client that walks away from a stream
costs nothing lasting."""
import json
import threading
import time

import pytest

from xconlib import RawHTTP, wait_for, xml_call

ENGINE_ARGS = ["--log-level", "info"]

# ~5 KB per VM in XML, ~1.7 KB in JSON: well past the 256 KB streaming mark in both.
VMS = 300


@pytest.fixture(scope="module")
def many_vms(root):
    refs = [root.call("VM.create", {"name_label": f"big-{i}", "PV_args": "", "memory_static_max": "268435456"})
            for i in range(VMS)]
    return refs


def session_xml(root):
    return f"<value>{root.ref}</value>"


def test_xmlrpc_stream_is_whole(engine, root, many_vms):
    c = engine.raw(timeout=60)
    c.request("POST", "/", xml_call("VM.get_all_records", session_xml(root)))
    r = c.response()
    assert r.status == 200
    assert r.header("transfer-encoding") == "chunked"
    assert r.header("content-length") is None
    assert r.header("content-type") == "text/xml"
    assert len(r.body) > 1 << 20
    assert r.body.endswith(b"</member></struct></value></param></params></methodResponse>")
    # the same connection serves the next call
    c.request("POST", "/", xml_call("VM.get_all", session_xml(root)))
    assert c.response().status == 200
    c.sock.close()

    recs = root.call("VM.get_all_records")
    assert set(many_vms) <= set(recs)
    assert sorted(recs) == sorted(root.call("VM.get_all"))
    for ref in many_vms[:: VMS // 8]:
        assert recs[ref] == root.call("VM.get_record", ref)


def test_jsonrpc_stream_is_whole(engine, root, many_vms):
    j = engine.json()
    for v2 in (True, False):
        req = {"method": "VM.get_all_records", "params": [root.ref], "id": 42}
        if v2:
            req["jsonrpc"] = "2.0"
        status, headers, data = j.post(json.dumps(req))
        assert status == 200
        assert headers.get("transfer-encoding") == "chunked"
        reply = json.loads(data)
        assert reply["id"] == 42
        assert set(many_vms) <= set(reply["result"])
        assert (("jsonrpc" in reply) == v2) and (v2 or reply["error"] is None)
    assert j.call("VM.get_record", root.ref, many_vms[0]) == reply["result"][many_vms[0]]
    j.close()


def test_http10_gets_the_stream_to_the_close(engine, root, many_vms):
    c = engine.raw(timeout=60)
    body = xml_call("VM.get_all_records", session_xml(root))
    c.send(b"POST / HTTP/1.0\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    r = c.response()
    assert r.status == 200 and r.header("transfer-encoding") is None
    assert r.body.endswith(b"</methodResponse>") and r.body.count(b"<name>uuid</name>") >= VMS
    c.sock.close()


def test_other_calls_go_on_while_a_client_stalls_mid_stream(engine, root, many_vms):
    """A client that asks for everything and then stops reading holds a
    snapshot, not the engine: writes commit and other calls answer."""
    # the unix socket's buffers (~200 KB) hold a fraction of the reply, so
    # the engine is stuck mid-stream until we read
    c = RawHTTP(unix_path=engine.sock, timeout=60)
    c.request("POST", "/", xml_call("VM.get_all_records", session_xml(root)))
    time.sleep(0.3)
    other = engine.local_session()
    ref = many_vms[0]
    t0 = time.monotonic()
    other.call("VM.set_name_description", ref, "written while a stream is stalled")
    assert other.call("VM.get_name_description", ref) == "written while a stream is stalled"
    assert time.monotonic() - t0 < 5
    # the stalled stream is a snapshot from before the write: still whole
    r = c.response()
    assert r.status == 200 and r.body.endswith(b"</methodResponse>") and len(r.body) > 1 << 20
    assert b"written while a stream is stalled" not in r.body
    c.sock.close()


def test_clients_walking_away_mid_stream(engine, root, many_vms):
    def walk_away():
        c = engine.raw(timeout=60)
        c.request("POST", "/", xml_call("VM.get_all_records", session_xml(root)))
        c.sock.recv(1000)
        c.sock.close()

    threads = [threading.Thread(target=walk_away) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # still serving, and the walked-away streams hold no snapshot that
    # would stop the store from checkpointing: a write goes through
    root.call("VM.set_name_description", many_vms[1], "after")
    assert len(root.call("VM.get_all_records")) >= VMS
    engine.assert_clean()


def test_event_from_everything_is_streamed_and_whole(engine, root, many_vms):
    """event.from with an empty token (what XenCenter and Xen Orchestra call
    on connect, classes "*") answers every object as an add, straight from
    one snapshot: streamed when big, every snapshot equal to the record, and
    its token good for the next call."""
    c = engine.raw(timeout=60)
    c.request("POST", "/", xml_call("event.from", session_xml(root),
                                    "<value><array><data><value>*</value></data></array></value>",
                                    "<value></value>", "<value><double>0</double></value>"))
    r = c.response()
    assert r.status == 200 and r.header("transfer-encoding") == "chunked"
    c.sock.close()

    got = root.call("event.from", ["vm", "sr"], "", 0.0)
    assert set(got) == {"events", "valid_ref_counts", "token"}
    adds = {e["ref"]: e for e in got["events"]}
    assert all(e["operation"] == "add" and e["class"] in ("vm", "sr") for e in got["events"])
    assert len(adds) == len(got["events"]), "one event per object"
    assert {ref for ref, e in adds.items() if e["class"] == "vm"} == set(root.call("VM.get_all"))
    assert {ref for ref, e in adds.items() if e["class"] == "sr"} == set(root.call("SR.get_all"))
    for ref in many_vms[:: VMS // 6]:
        assert adds[ref]["snapshot"] == root.call("VM.get_record", ref)
        assert adds[ref]["id"] == got["token"].split(",")[0].lstrip("0")
    assert got["valid_ref_counts"]["vm"] == len(root.call("VM.get_all"))

    root.call("VM.set_name_description", many_vms[2], "after the snapshot")
    nxt = root.call("event.from", ["vm"], got["token"], 5.0)
    assert [(e["ref"], e["operation"]) for e in nxt["events"]] == [(many_vms[2], "mod")]

    j = engine.json()
    everything = j.call("event.from", root.ref, ["*"], "", 0.0)
    assert {e["class"] for e in everything["events"]} >= {"vm", "host", "pool", "sr", "network"}
    assert len([e for e in everything["events"] if e["class"] == "vm"]) == everything["valid_ref_counts"]["vm"]
    j.close()


def stalled_stream(make_engine, prefix):
    """A fresh engine with VMS VMs and a get_all_records on its unix socket
    that nobody reads: the engine is left mid-stream, holding the reply's
    snapshot.  Returns the engine, a session and the stalled connection."""
    e = make_engine(["--sync", "normal"])
    s = e.local_session()
    for i in range(VMS):
        s.call("VM.create", {"name_label": f"{prefix}-{i}", "PV_args": ""})
    c = RawHTTP(unix_path=e.sock, timeout=30)
    c.request("POST", "/", xml_call("VM.get_all_records", session_xml(s)))
    time.sleep(0.3)
    return e, s, c


def test_sigterm_mid_stream_stops_cleanly(make_engine):
    e, s, c = stalled_stream(make_engine, "term")
    t0 = time.monotonic()
    e.stop(timeout=30)  # exit 0, no sanitizer report
    assert time.monotonic() - t0 < 20
    c.sock.close()


def test_restart_agent_mid_stream(make_engine):
    e, s, c = stalled_stream(make_engine, "restart")
    pid = e.pid
    s.call("host.restart_agent", s.call("host.get_all")[0])
    # the stalled reply is waited for (boundedly), then its connection cut,
    # and the engine comes back in place and serves
    wait_for(lambda: "their connections are closed" in e.log, timeout=60,
             what="restart_agent giving up on the stalled reply")

    def serving():
        try:
            return len(e.local_session().call("VM.get_all")) >= VMS
        except Exception:
            return False
    wait_for(serving, timeout=60, what="the engine serving again after restart_agent")
    assert e.pid == pid
    c.sock.close()


def test_filtered_records_stream_too(engine, root, many_vms):
    expr = 'field "is_a_template"="false" and not field "is_control_domain"="true"'
    c = engine.raw(timeout=60)
    quoted = expr.replace('"', "&quot;")
    c.request("POST", "/", xml_call("VM.get_all_records_where", session_xml(root), f"<value>{quoted}</value>"))
    r = c.response()
    assert r.status == 200 and r.header("transfer-encoding") == "chunked"
    c.sock.close()
    got = root.call("VM.get_all_records_where", expr)
    assert set(many_vms) <= set(got)
    assert all(not v["is_a_template"] and not v["is_control_domain"] for v in got.values())
    assert sorted(got) == sorted(root.call("VM.get_all_where", expr))
