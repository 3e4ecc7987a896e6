/* JSON-RPC codec (see jsonrpc.h).
 *
 * jansson parses requests; replies are written by hand into a buf because
 * jansson's dumper would need a second tree of json_t built from the value
 * tree, and the reply writer is on the hot path of every call.
 */
#include "jsonrpc.h"
#include "wire.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "../util/value_sink.h"
#include "../util/xalloc.h"

/* Converts one jansson value; NULL when it nests deeper than allowed. */
static struct value *from_json(const json_t *j, unsigned depth)
{
	if (depth > JSONRPC_MAX_NESTING)
		return NULL;
	switch (json_typeof(j)) {
	case JSON_STRING:
		return value_new_stringn(json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		return value_new_int(json_integer_value(j));
	case JSON_REAL:
		return value_new_float(json_real_value(j));
	case JSON_TRUE:
		return value_new_bool(true);
	case JSON_FALSE:
		return value_new_bool(false);
	case JSON_NULL:
		return value_new_nil();
	case JSON_ARRAY: {
		size_t n = json_array_size(j);
		struct value *arr = value_new_array(n);
		for (size_t i = 0; i < n; i++) {
			struct value *v = from_json(json_array_get(j, i), depth + 1);
			if (!v) {
				value_unref(arr);
				return NULL;
			}
			value_array_push(arr, v);
		}
		return arr;
	}
	case JSON_OBJECT: {
		struct value *st = value_new_struct(json_object_size(j));
		const char *key;
		json_t *member;
		/* jansson has merged duplicate keys already, so add, not set. */
		json_object_foreach((json_t *)j, key, member) {
			struct value *v = from_json(member, depth + 1);
			if (!v) {
				value_unref(st);
				return NULL;
			}
			value_struct_add(st, key, v);
		}
		return st;
	}
	}
	return NULL;
}

/* jansson has no limit on the number of values, and a 64 MiB body of tiny
 * ones ("[1,1,1,...") would become gigabytes of json_t and value trees
 * before anything looked at them.  Counting separators outside strings
 * bounds that first, far above any real call. */
static bool too_many_values(const char *s, size_t n)
{
	size_t count = 0;
	bool in_string = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if ((c == ',' || c == '[' || c == '{') && ++count > JSONRPC_MAX_VALUES) {
			return true;
		}
	}
	return false;
}

static int invalid(char **detail, const char *msg)
{
	*detail = xstrdup(msg);
	return JSONRPC_INVALID_REQUEST;
}

static int decode_object(const json_t *root, struct jsonrpc_request *req, char **detail)
{
	if (!json_is_object(root))
		return invalid(detail, "the request is not a JSON object");
	const json_t *ver = json_object_get(root, "jsonrpc");
	req->v2 = json_is_string(ver) && strcmp(json_string_value(ver), "2.0") == 0;

	const json_t *id = json_object_get(root, "id");
	if (json_is_string(id))
		req->id = value_new_stringn(json_string_value(id), json_string_length(id));
	else if (json_is_integer(id))
		req->id = value_new_int(json_integer_value(id));
	else if (!id || json_is_null(id))
		return invalid(detail, "the request has no id (notifications are not supported)");
	else
		return invalid(detail, "the id must be a string or an integer");

	const json_t *method = json_object_get(root, "method");
	if (!json_is_string(method))
		return invalid(detail, "the method must be a string");

	const json_t *params = json_object_get(root, "params");
	if (!params && req->v2) {
		req->params = value_new_array(0);
	} else if (json_is_array(params)) {
		req->params = from_json(params, 0);
		if (!req->params)
			return invalid(detail, "the params nest too deeply");
	} else {
		return invalid(detail, params ? "the params must be an array" : "the request has no params");
	}
	req->method = xstrdup(json_string_value(method));
	return 0;
}

int jsonrpc_decode(const char *json, size_t len, struct jsonrpc_request *req, char **detail)
{
	memset(req, 0, sizeof(*req));
	*detail = NULL;
	if (too_many_values(json, len)) {
		*detail = xstrdup("the request has too many values");
		return JSONRPC_INVALID_REQUEST;
	}
	json_error_t jerr;
	json_t *root = json_loadb(json, len, 0, &jerr);
	if (!root) {
		*detail = xasprintf("%s at line %d column %d", jerr.text, jerr.line, jerr.column);
		return JSONRPC_PARSE_ERROR;
	}
	int rc = decode_object(root, req, detail);
	json_decref(root);
	if (rc) {
		/* Keep the id so the error reaches the right caller. */
		struct value *id = xc_steal(&req->id);
		bool v2 = req->v2;
		jsonrpc_request_clear(req);
		req->id = id;
		req->v2 = v2;
	}
	return rc;
}

void jsonrpc_request_clear(struct jsonrpc_request *req)
{
	free(req->method);
	value_unref(req->params);
	value_unref(req->id);
	memset(req, 0, sizeof(*req));
}

static void encode_string(struct buf *b, const char *s, size_t n)
{
	WIRE_LIT(b, "\"");
	wire_escape_json(b, s, n);
	WIRE_LIT(b, "\"");
}

/* The writer is a struct wire_writer (wire.h). */
static struct wire_writer *JW(struct value_sink *k)
{
	return (struct wire_writer *)k;
}

/* Starts an item; returns the buf to write it to. */
static struct buf *item(struct value_sink *k)
{
	struct wire_writer *w = JW(k);
	if (w->comma)
		WIRE_LIT(w->b, ",");
	w->comma = true;
	return w->b;
}

static void j_string(struct value_sink *k, const char *s, size_t n)
{
	encode_string(item(k), s, n);
}

static void j_integer(struct value_sink *k, int64_t i, bool int32)
{
	wire_put_i64(item(k), i);
}

static void j_real(struct value_sink *k, double f)
{
	struct buf *b = item(k);
	if (isfinite(f)) {
		wire_put_double(b, f);
	} else {
		WIRE_LIT(b, "null"); /* JSON has no NaN or infinity */
	}
}

static void j_boolean(struct value_sink *k, bool v)
{
	if (v)
		WIRE_LIT(item(k), "true");
	else
		WIRE_LIT(item(k), "false");
}

static void j_datetime(struct value_sink *k, int64_t t)
{
	char s[32];
	value_datetime_format(t, s);
	encode_string(item(k), s, strlen(s));
}

static void j_nil(struct value_sink *k)
{
	WIRE_LIT(item(k), "null");
}

static void j_array_begin(struct value_sink *k)
{
	WIRE_LIT(item(k), "[");
	JW(k)->comma = false;
}

static void j_array_end(struct value_sink *k)
{
	WIRE_LIT(JW(k)->b, "]");
	JW(k)->comma = true;
}

static void j_struct_begin(struct value_sink *k)
{
	WIRE_LIT(item(k), "{");
	JW(k)->comma = false;
}

static void j_member(struct value_sink *k, const char *key, size_t n, bool key_static)
{
	struct buf *b = item(k);
	if (key_static) { /* a datamodel field name: nothing to escape */
		WIRE_LIT(b, "\"");
		wire_put(b, key, n);
		WIRE_LIT(b, "\":");
	} else {
		encode_string(b, key, n);
		WIRE_LIT(b, ":");
	}
	JW(k)->comma = false;
}

static void j_member_end(struct value_sink *k)
{
	JW(k)->comma = true;
}

static void j_struct_end(struct value_sink *k)
{
	WIRE_LIT(JW(k)->b, "}");
	JW(k)->comma = true;
}

static const struct value_sink_ops json_ops = {
	.string = j_string,
	.integer = j_integer,
	.real = j_real,
	.boolean = j_boolean,
	.datetime = j_datetime,
	.nil = j_nil,
	.array_begin = j_array_begin,
	.array_end = j_array_end,
	.struct_begin = j_struct_begin,
	.member = j_member,
	.member_end = j_member_end,
	.struct_end = j_struct_end,
};

/* Appends v without terminating (see wire.h). */
static void put_value(struct buf *b, const struct value *v)
{
	struct wire_writer w = { { &json_ops }, b, false };
	value_emit(v, &w.k);
}

void jsonrpc_encode_value(struct buf *b, const struct value *v)
{
	put_value(b, v);
	wire_finish(b);
}

/* Ends every reply: the id and the closing brace. */
static void encode_id(struct buf *b, const struct value *id)
{
	WIRE_LIT(b, ",\"id\":");
	if (id)
		put_value(b, id);
	else
		WIRE_LIT(b, "null");
	WIRE_LIT(b, "}");
	wire_finish(b);
}

void jsonrpc_encode_success(struct buf *b, const struct jsonrpc_request *req, const struct value *result,
			    struct wire_deferred *d)
{
	struct wire_writer w = { { &json_ops }, b, false };
	if (req->v2) {
		WIRE_LIT(b, "{\"jsonrpc\":\"2.0\",\"result\":");
		wire_put_result(&w, result, d);
	} else {
		WIRE_LIT(b, "{\"result\":");
		wire_put_result(&w, result, d);
		WIRE_LIT(b, ",\"error\":null");
	}
	encode_id(b, req->id);
}

static void encode_strings(struct buf *b, char *const *s, unsigned n, bool comma_first)
{
	for (unsigned i = 0; i < n; i++) {
		if (i || comma_first)
			WIRE_LIT(b, ",");
		encode_string(b, s[i], strlen(s[i]));
	}
}

void jsonrpc_encode_failure(struct buf *b, const struct jsonrpc_request *req, const struct xc_error *err)
{
	const char *code = xc_error_wire_code(err);
	unsigned n;
	char *const *params = xc_error_wire_params(err, &n);
	if (req->v2) {
		/* xapi always sends code 1; the XenAPI code is the message. */
		WIRE_LIT(b, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":");
		encode_string(b, code, strlen(code));
		WIRE_LIT(b, ",\"data\":[");
		encode_strings(b, params, n, false);
		WIRE_LIT(b, "]}");
	} else {
		WIRE_LIT(b, "{\"result\":null,\"error\":[");
		encode_string(b, code, strlen(code));
		encode_strings(b, params, n, true);
		WIRE_LIT(b, "]");
	}
	encode_id(b, req->id);
}

void jsonrpc_encode_fault(struct buf *b, int code, const char *detail, const struct value *id)
{
	WIRE_LIT(b, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":");
	wire_put_i64(b, code);
	if (code == JSONRPC_PARSE_ERROR)
		WIRE_LIT(b, ",\"message\":\"Parse error\",\"data\":[");
	else
		WIRE_LIT(b, ",\"message\":\"Invalid Request\",\"data\":[");
	encode_string(b, detail, strlen(detail));
	WIRE_LIT(b, "]}");
	encode_id(b, id);
}
