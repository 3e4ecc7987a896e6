/* The JSON-RPC codec: 1.0 and 2.0 requests in, the exact reply shapes xapi's
 * clients parse out, and clean refusals of everything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../rpc/jsonrpc.h"
#include "../../util/buf.h"
#include "../../util/xalloc.h"

static void decode_ok(const char *json, struct jsonrpc_request *req)
{
	XC_AUTOFREE char *detail = NULL;
	int rc = jsonrpc_decode(json, strlen(json), req, &detail);
	if (rc)
		print_error("unexpected failure %d: %s\n", rc, detail);
	assert_int_equal(rc, 0);
	assert_null(detail);
	assert_non_null(req->method);
	assert_int_equal(req->params->type, VALUE_ARRAY);
	assert_non_null(req->id);
}

static void decode_bad(const char *json, size_t len, int want, const char *want_detail)
{
	struct jsonrpc_request req;
	XC_AUTOFREE char *detail = NULL;
	assert_int_equal(jsonrpc_decode(json, len, &req, &detail), want);
	assert_non_null(detail);
	if (want_detail)
		assert_string_equal(detail, want_detail);
	assert_null(req.method);
	assert_null(req.params);
	jsonrpc_request_clear(&req);
}

static void test_decode_v1(void **state)
{
	struct jsonrpc_request req;
	decode_ok("{\"method\": \"VM.get_all\", \"params\": [\"OpaqueRef:s\"], \"id\": 7}", &req);
	assert_false(req.v2);
	assert_string_equal(req.method, "VM.get_all");
	assert_int_equal(value_len(req.params), 1);
	assert_string_equal(value_str(value_array_at(req.params, 0)), "OpaqueRef:s");
	assert_int_equal(req.id->type, VALUE_INT);
	assert_int_equal(req.id->u.i, 7);
	jsonrpc_request_clear(&req);
	assert_null(req.method);
}

static void test_decode_v2(void **state)
{
	struct jsonrpc_request req;
	decode_ok("{\"id\":0,\"jsonrpc\":\"2.0\",\"method\":\"session.login_with_password\","
		  "\"params\":[\"root\",\"pw\"]}", &req);
	assert_true(req.v2);
	assert_int_equal(value_len(req.params), 2);
	assert_int_equal(req.id->u.i, 0);
	jsonrpc_request_clear(&req);

	/* params may be omitted in 2.0; string ids are echoed as strings. */
	decode_ok("{\"jsonrpc\":\"2.0\",\"method\":\"system.listMethods\",\"id\":\"abc\"}", &req);
	assert_int_equal(value_len(req.params), 0);
	assert_int_equal(req.id->type, VALUE_STRING);
	assert_string_equal(value_str(req.id), "abc");
	jsonrpc_request_clear(&req);
}

static void test_decode_types(void **state)
{
	struct jsonrpc_request req;
	decode_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":["
		  "\"s\", 42, -9000000000, 2.5, 1e3, true, false, null, [], {},"
		  "{\"k\": [1, {\"n\": \"caf\\u00e9\"}], \"e\": \"\"}, \"\\u0041\\n\"]}", &req);
	const struct value *p = req.params;
	assert_int_equal(value_len(p), 12);
	assert_string_equal(value_str(value_array_at(p, 0)), "s");
	assert_int_equal(value_array_at(p, 1)->type, VALUE_INT);
	assert_int_equal(value_array_at(p, 1)->u.i, 42);
	assert_true(value_array_at(p, 2)->u.i == INT64_C(-9000000000));
	assert_int_equal(value_array_at(p, 3)->type, VALUE_FLOAT);
	assert_true(value_array_at(p, 3)->u.f == 2.5);
	assert_int_equal(value_array_at(p, 4)->type, VALUE_FLOAT);
	assert_true(value_array_at(p, 4)->u.f == 1000.0);
	assert_int_equal(value_array_at(p, 5)->type, VALUE_BOOL);
	assert_true(value_array_at(p, 5)->u.b);
	assert_false(value_array_at(p, 6)->u.b);
	assert_int_equal(value_array_at(p, 7)->type, VALUE_NIL);
	assert_int_equal(value_array_at(p, 8)->type, VALUE_ARRAY);
	assert_int_equal(value_array_at(p, 9)->type, VALUE_STRUCT);
	const struct value *st = value_array_at(p, 10);
	const struct value *k = value_struct_get(st, "k");
	assert_int_equal(value_array_at(k, 0)->u.i, 1);
	assert_string_equal(value_struct_get_str(value_array_at(k, 1), "n"), "caf\xC3\xA9");
	assert_string_equal(value_struct_get_str(st, "e"), "");
	assert_string_equal(value_str(value_array_at(p, 11)), "A\n");
	jsonrpc_request_clear(&req);
}

static void test_decode_invalid_requests(void **state)
{
	static const struct {
		const char *json;
		const char *detail;
	} cases[] = {
		{ "{\"method\":\"m\",\"params\":[]}", "the request has no id (notifications are not supported)" },
		{ "{\"method\":\"m\",\"params\":[],\"id\":null}", "the request has no id (notifications are not supported)" },
		{ "{\"method\":\"m\",\"params\":[],\"id\":1.5}", "the id must be a string or an integer" },
		{ "{\"method\":\"m\",\"params\":[],\"id\":[1]}", "the id must be a string or an integer" },
		{ "{\"params\":[],\"id\":1}", "the method must be a string" },
		{ "{\"method\":7,\"params\":[],\"id\":1}", "the method must be a string" },
		{ "{\"method\":\"m\",\"params\":{},\"id\":1}", "the params must be an array" },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":\"x\",\"id\":1}", "the params must be an array" },
		{ "{\"method\":\"m\",\"id\":1}", "the request has no params" },
		{ "[{\"method\":\"m\",\"params\":[],\"id\":1}]", "the request is not a JSON object" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		decode_bad(cases[i].json, strlen(cases[i].json), JSONRPC_INVALID_REQUEST, cases[i].detail);

	/* The id survives when it could be read, so the refusal reaches its caller. */
	struct jsonrpc_request req;
	XC_AUTOFREE char *detail = NULL;
	const char *j = "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{},\"id\":9}";
	assert_int_equal(jsonrpc_decode(j, strlen(j), &req, &detail), JSONRPC_INVALID_REQUEST);
	assert_non_null(req.id);
	assert_int_equal(req.id->u.i, 9);
	jsonrpc_request_clear(&req);
}

static void test_decode_malformed(void **state)
{
	static const char *const bad[] = {
		"", "{", "not json", "{\"method\":\"m\",\"params\":[],\"id\":1", "{\"method\":\"m\",}",
		"{\"method\":\"m\",\"params\":[1 2],\"id\":1}", "{\"a\":\"\\ud800\"}", "\"\xff\xfe\"",
		"{\"method\":\"m\",\"params\":[99999999999999999999999],\"id\":1}",
		"{\"method\":\"m\",\"params\":[\"a\\u0000b\"],\"id\":1}",
		"{\"method\":\"m\",\"params\":[],\"id\":1} trailing", "42",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		decode_bad(bad[i], strlen(bad[i]), JSONRPC_PARSE_ERROR, NULL);

	unsigned char junk[2048];
	srand(2);
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)rand();
		decode_bad((const char *)junk, sizeof(junk), JSONRPC_PARSE_ERROR, NULL);
	}
}

static void test_decode_nesting(void **state)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"method\":\"m\",\"id\":1,\"params\":");
	for (int i = 0; i < 100; i++)
		buf_addc(&b, '[');
	for (int i = 0; i < 100; i++)
		buf_addc(&b, ']');
	buf_addc(&b, '}');
	decode_bad(b.data, b.len, JSONRPC_INVALID_REQUEST, "the params nest too deeply");
	buf_reset(&b);
	/* Deeper than jansson's own limit (2048): a parse error. */
	buf_adds(&b, "{\"method\":\"m\",\"id\":1,\"params\":");
	for (int i = 0; i < 3000; i++)
		buf_addc(&b, '[');
	decode_bad(b.data, b.len, JSONRPC_PARSE_ERROR, NULL);
	buf_reset(&b);
	/* A million: refused before jansson sees it, no stack overflow. */
	buf_adds(&b, "{\"method\":\"m\",\"id\":1,\"params\":");
	for (int i = 0; i < 1000000; i++)
		buf_addc(&b, '[');
	decode_bad(b.data, b.len, JSONRPC_INVALID_REQUEST, "the request has too many values");
	buf_free(&b);
}

static void test_decode_too_many_values(void **state)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"method\":\"m\",\"id\":1,\"params\":[[");
	for (unsigned i = 0; i <= JSONRPC_MAX_VALUES; i++)
		buf_adds(&b, "1,");
	buf_adds(&b, "1]]}");
	decode_bad(b.data, b.len, JSONRPC_INVALID_REQUEST, "the request has too many values");
	buf_reset(&b);
	/* Separators inside strings do not count. */
	buf_adds(&b, "{\"method\":\"m\",\"id\":1,\"params\":[\"");
	for (unsigned i = 0; i <= JSONRPC_MAX_VALUES; i++)
		buf_adds(&b, ",[{\\\"");
	buf_adds(&b, "\"]}");
	struct jsonrpc_request req;
	decode_ok(b.data, &req);
	assert_int_equal(value_len(value_array_at(req.params, 0)), 4 * (JSONRPC_MAX_VALUES + 1));
	jsonrpc_request_clear(&req);
	buf_free(&b);
}

/* --- encoding ---------------------------------------------------------- */

static char *enc(const struct value *v)
{
	struct buf b = BUF_INIT;
	jsonrpc_encode_value(&b, v);
	return buf_steal(&b, NULL);
}

static void assert_encodes(struct value *v, const char *want)
{
	XC_AUTOFREE char *got = enc(v);
	assert_string_equal(got, want);
	value_unref(v);
}

static void test_encode_values(void **state)
{
	assert_encodes(value_new_string("OpaqueRef:1"), "\"OpaqueRef:1\"");
	assert_encodes(value_new_string(""), "\"\"");
	assert_encodes(value_new_int(-9000000000), "-9000000000");
	assert_encodes(value_new_float(1.0), "1");
	assert_encodes(value_new_float(0.1), "0.1");
	assert_encodes(value_new_float(1e100), "1e+100");
	assert_encodes(value_new_float(__builtin_nan("")), "null");
	assert_encodes(value_new_bool(true), "true");
	assert_encodes(value_new_bool(false), "false");
	assert_encodes(value_new_nil(), "null");
	assert_encodes(value_new_datetime(1205850125), "\"20080318T14:22:05Z\"");
	struct value *st = value_new_struct(0);
	value_struct_add(st, "a", value_new_array(0));
	struct value *arr = value_new_array(0);
	value_array_push(arr, value_new_int(1));
	value_array_push_string(arr, "x");
	value_struct_add(st, "b\"", arr);
	value_struct_add(st, "c", value_new_struct(0));
	assert_encodes(st, "{\"a\":[],\"b\\\"\":[1,\"x\"],\"c\":{}}");
}

static void test_encode_escaping(void **state)
{
	assert_encodes(value_new_string("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
	assert_encodes(value_new_string("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
	assert_encodes(value_new_string("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
	assert_encodes(value_new_stringn("a\0b", 3), "\"a\\u0000b\"");
	assert_encodes(value_new_string("caf\xC3\xA9 \xF0\x9F\x98\x80 \xEF\xBF\xBF"),
		       "\"caf\xC3\xA9 \xF0\x9F\x98\x80 \xEF\xBF\xBF\"");
	assert_encodes(value_new_string("x\xFFy\xE2\x82"), "\"x\\ufffdy\\ufffd\\ufffd\"");
}

static void test_encode_replies(void **state)
{
	struct buf b = BUF_INIT;
	struct jsonrpc_request v1 = { .id = value_new_int(3) };
	struct jsonrpc_request v2 = { .id = value_new_string("x"), .v2 = true };
	XC_AUTOVALUE *ref = value_new_string("OpaqueRef:1");

	jsonrpc_encode_success(&b, &v1, ref, NULL);
	assert_string_equal(b.data, "{\"result\":\"OpaqueRef:1\",\"error\":null,\"id\":3}");
	buf_reset(&b);
	jsonrpc_encode_success(&b, &v1, NULL, NULL);
	assert_string_equal(b.data, "{\"result\":\"\",\"error\":null,\"id\":3}");
	buf_reset(&b);
	jsonrpc_encode_success(&b, &v2, ref, NULL);
	assert_string_equal(b.data, "{\"jsonrpc\":\"2.0\",\"result\":\"OpaqueRef:1\",\"id\":\"x\"}");

	XC_AUTOERROR err = XC_ERROR_INIT;
	xc_error_set(&err, XC_ERR_HANDLE_INVALID, "VM", "OpaqueRef:bad");
	buf_reset(&b);
	jsonrpc_encode_failure(&b, &v1, &err);
	assert_string_equal(b.data, "{\"result\":null,\"error\":[\"HANDLE_INVALID\",\"VM\",\"OpaqueRef:bad\"],\"id\":3}");
	buf_reset(&b);
	jsonrpc_encode_failure(&b, &v2, &err);
	assert_string_equal(b.data, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"HANDLE_INVALID\","
				    "\"data\":[\"VM\",\"OpaqueRef:bad\"]},\"id\":\"x\"}");
	xc_error_set(&err, XC_ERR_MESSAGE_DEPRECATED);
	buf_reset(&b);
	jsonrpc_encode_failure(&b, &v1, &err);
	assert_string_equal(b.data, "{\"result\":null,\"error\":[\"MESSAGE_DEPRECATED\"],\"id\":3}");
	buf_reset(&b);
	jsonrpc_encode_failure(&b, &v2, &err);
	assert_string_equal(b.data, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":\"MESSAGE_DEPRECATED\","
				    "\"data\":[]},\"id\":\"x\"}");

	buf_reset(&b);
	jsonrpc_encode_fault(&b, JSONRPC_PARSE_ERROR, "bad \"json\"", NULL);
	assert_string_equal(b.data, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\","
				    "\"data\":[\"bad \\\"json\\\"\"]},\"id\":null}");
	buf_reset(&b);
	jsonrpc_encode_fault(&b, JSONRPC_INVALID_REQUEST, "no id", v1.id);
	assert_string_equal(b.data, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\","
				    "\"data\":[\"no id\"]},\"id\":3}");
	buf_free(&b);
	jsonrpc_request_clear(&v1);
	jsonrpc_request_clear(&v2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_v1),
		cmocka_unit_test(test_decode_v2),
		cmocka_unit_test(test_decode_types),
		cmocka_unit_test(test_decode_invalid_requests),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_nesting),
		cmocka_unit_test(test_decode_too_many_values),
		cmocka_unit_test(test_encode_values),
		cmocka_unit_test(test_encode_escaping),
		cmocka_unit_test(test_encode_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
