/* XML-RPC codec (see xmlrpc.h).
 *
 * Requests are parsed by xmlrpc-c, which copes with every dialect clients
 * send; its own tree is then converted into a value tree.  Replies are written
 * by hand straight into a buf: xmlrpc-c's serialiser pretty-prints and types
 * strings, both of which xapi clients reject, and the writer is the hot path
 * of every call.
 */
#include "xmlrpc.h"
#include "wire.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xmlrpc-c/base.h>

#include "../util/value_sink.h"
#include "../util/xalloc.h"

/* Each XML-RPC nesting level is three elements (value, array|struct,
 * data|member), plus the envelope's own few. */
#define MAX_ELEMENT_DEPTH (3 * XMLRPC_MAX_NESTING + 8)

static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

static void limits_init(void)
{
	xmlrpc_limit_set(XMLRPC_NESTING_LIMIT_ID, XMLRPC_MAX_NESTING);
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, XMLRPC_MAX_DOC);
}

/* Skips past the first occurrence of the terminator; returns end if none. */
static const char *skip_past(const char *p, const char *end, const char *term)
{
	size_t tl = strlen(term);
	const char *q = memmem(p, (size_t)(end - p), term, tl);
	return q ? q + tl : end;
}

/* Guards in front of xmlrpc-c, which is fine with what clients really send
 * but not with what an attacker can:
 *  - it builds and frees its element tree recursively, so a few megabytes of
 *    nested tags overflow the stack before its nesting limit is consulted:
 *    the element depth is bounded here first;
 *  - it expands internal entities, so a one kilobyte request can grow into
 *    gigabytes ("billion laughs"): DTDs are refused (XML-RPC has none);
 *  - struct members are looked up linearly on insertion and big documents
 *    parse superlinearly (a 2 MB struct takes a second, 8 MB half a minute):
 *    the element and member counts are bounded, far above any real call. */
static const char *precheck(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	unsigned depth = 0;
	size_t elements = 0, members = 0;
	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		p++;
		if (p == end)
			break;
		if (*p == '/') {
			if (depth)
				depth--;
		} else if (*p == '?') {
			p = skip_past(p, end, "?>");
			continue;
		} else if (*p == '!') {
			if ((size_t)(end - p) >= 3 && memcmp(p, "!--", 3) == 0)
				p = skip_past(p, end, "-->");
			else if ((size_t)(end - p) >= 8 && memcmp(p, "![CDATA[", 8) == 0)
				p = skip_past(p, end, "]]>");
			else
				return "document type declarations are not accepted";
			continue;
		} else {
			const char *gt = memchr(p, '>', (size_t)(end - p));
			if (!gt)
				break;
			if (++elements > XMLRPC_MAX_ELEMENTS)
				return "too many elements";
			if (gt - p >= 6 && memcmp(p, "member", 6) == 0 && ++members > XMLRPC_MAX_MEMBERS)
				return "too many struct members";
			if (gt[-1] != '/' && ++depth > MAX_ELEMENT_DEPTH)
				return "elements nested too deeply";
			p = gt + 1;
		}
	}
	return NULL;
}

static struct value *from_xmlrpc(xmlrpc_env *env, xmlrpc_value *x);

static struct value *array_from_xmlrpc(xmlrpc_env *env, xmlrpc_value *x)
{
	int n = xmlrpc_array_size(env, x);
	if (env->fault_occurred)
		return NULL;
	struct value *arr = value_new_array((size_t)n);
	for (int i = 0; i < n; i++) {
		xmlrpc_value *item;
		xmlrpc_array_read_item(env, x, i, &item);
		if (env->fault_occurred)
			break;
		struct value *v = from_xmlrpc(env, item);
		xmlrpc_DECREF(item);
		if (!v)
			break;
		value_array_push(arr, v);
	}
	if (env->fault_occurred) {
		value_unref(arr);
		return NULL;
	}
	return arr;
}

static struct value *struct_from_xmlrpc(xmlrpc_env *env, xmlrpc_value *x)
{
	int n = xmlrpc_struct_size(env, x);
	if (env->fault_occurred)
		return NULL;
	struct value *st = value_new_struct((size_t)n);
	for (int i = 0; i < n && !env->fault_occurred; i++) {
		xmlrpc_value *key, *val;
		xmlrpc_struct_read_member(env, x, (unsigned)i, &key, &val);
		if (env->fault_occurred)
			break;
		const char *k = NULL;
		size_t klen;
		xmlrpc_read_string_lp(env, key, &klen, &k);
		struct value *v = env->fault_occurred ? NULL : from_xmlrpc(env, val);
		if (v) /* xmlrpc-c has already merged duplicate names */
			value_struct_add(st, k, v);
		free((char *)k);
		xmlrpc_DECREF(key);
		xmlrpc_DECREF(val);
	}
	if (env->fault_occurred) {
		value_unref(st);
		return NULL;
	}
	return st;
}

static struct value *datetime_from_xmlrpc(xmlrpc_env *env, xmlrpc_value *x)
{
	xmlrpc_datetime dt;
	xmlrpc_read_datetime(env, x, &dt);
	if (env->fault_occurred)
		return NULL;
	struct tm tm = { .tm_year = (int)dt.Y - 1900, .tm_mon = (int)dt.M - 1, .tm_mday = (int)dt.D,
			 .tm_hour = (int)dt.h, .tm_min = (int)dt.m, .tm_sec = (int)dt.s };
	return value_new_datetime((int64_t)timegm(&tm));
}

/* Converts one xmlrpc-c value; NULL with env set on failure.  Recursion is
 * bounded by xmlrpc-c's nesting limit. */
static struct value *from_xmlrpc(xmlrpc_env *env, xmlrpc_value *x)
{
	switch (xmlrpc_value_type(x)) {
	case XMLRPC_TYPE_INT: {
		int i;
		xmlrpc_read_int(env, x, &i);
		return env->fault_occurred ? NULL : value_new_int(i);
	}
	case XMLRPC_TYPE_I8: {
		xmlrpc_int64 i;
		xmlrpc_read_i8(env, x, &i);
		return env->fault_occurred ? NULL : value_new_int(i);
	}
	case XMLRPC_TYPE_BOOL: {
		xmlrpc_bool b;
		xmlrpc_read_bool(env, x, &b);
		return env->fault_occurred ? NULL : value_new_bool(b);
	}
	case XMLRPC_TYPE_DOUBLE: {
		double d;
		xmlrpc_read_double(env, x, &d);
		return env->fault_occurred ? NULL : value_new_float(d);
	}
	case XMLRPC_TYPE_DATETIME:
		return datetime_from_xmlrpc(env, x);
	case XMLRPC_TYPE_STRING: {
		const char *s;
		size_t n;
		xmlrpc_read_string_lp(env, x, &n, &s);
		if (env->fault_occurred)
			return NULL;
		struct value *v = value_new_stringn(s, n);
		free((char *)s);
		return v;
	}
	case XMLRPC_TYPE_BASE64: {
		const unsigned char *bytes;
		size_t n;
		xmlrpc_read_base64(env, x, &n, &bytes);
		if (env->fault_occurred)
			return NULL;
		struct value *v = value_new_stringn((const char *)bytes, n);
		free((void *)bytes);
		return v;
	}
	case XMLRPC_TYPE_ARRAY:
		return array_from_xmlrpc(env, x);
	case XMLRPC_TYPE_STRUCT:
		return struct_from_xmlrpc(env, x);
	case XMLRPC_TYPE_NIL:
		return value_new_nil();
	default:
		xmlrpc_env_set_fault(env, XMLRPC_TYPE_ERROR, "unsupported value type");
		return NULL;
	}
}

int xmlrpc_decode_call(const char *xml, size_t len, char **method, struct value **params,
		       struct xc_error *err)
{
	*method = NULL;
	*params = NULL;
	pthread_once(&limits_once, limits_init);
	const char *bad = precheck(xml, len);
	if (bad) {
		xc_error_set(err, XC_ERR_XMLRPC_UNMARSHAL_FAILURE, "methodCall", bad);
		return -1;
	}
	xmlrpc_env env;
	xmlrpc_env_init(&env);
	const char *name = NULL;
	xmlrpc_value *arr = NULL;
	xmlrpc_parse_call(&env, xml, len, &name, &arr);
	struct value *v = env.fault_occurred ? NULL : from_xmlrpc(&env, arr);
	if (arr)
		xmlrpc_DECREF(arr);
	if (env.fault_occurred) {
		xc_error_set(err, XC_ERR_XMLRPC_UNMARSHAL_FAILURE, "methodCall",
			     env.fault_string ? env.fault_string : "parse error");
		xmlrpc_env_clean(&env);
		free((char *)name);
		value_unref(v);
		return -1;
	}
	xmlrpc_env_clean(&env);
	*method = (char *)name;
	*params = v;
	return 0;
}

/* The writer: a value sink (util/value_sink.h) appending to a buf without
 * terminating it (see wire.h). */
struct xml_writer {
	struct value_sink k;
	struct buf *b;
};

static struct buf *XB(struct value_sink *k)
{
	return ((struct xml_writer *)k)->b;
}

static void x_string(struct value_sink *k, const char *s, size_t n)
{
	struct buf *b = XB(k);
	WIRE_LIT(b, "<value>");
	wire_escape_xml(b, s, n);
	WIRE_LIT(b, "</value>");
}

static void x_integer(struct value_sink *k, int64_t i, bool int32)
{
	struct buf *b = XB(k);
	if (int32) {
		WIRE_LIT(b, "<value><i4>");
		wire_put_i64(b, i);
		WIRE_LIT(b, "</i4></value>");
		return;
	}
	WIRE_LIT(b, "<value>");
	wire_put_i64(b, i);
	WIRE_LIT(b, "</value>");
}

static void x_real(struct value_sink *k, double f)
{
	struct buf *b = XB(k);
	WIRE_LIT(b, "<value><double>");
	wire_put_double(b, f);
	WIRE_LIT(b, "</double></value>");
}

static void x_boolean(struct value_sink *k, bool v)
{
	if (v)
		WIRE_LIT(XB(k), "<value><boolean>1</boolean></value>");
	else
		WIRE_LIT(XB(k), "<value><boolean>0</boolean></value>");
}

static void x_datetime(struct value_sink *k, int64_t t)
{
	struct buf *b = XB(k);
	char s[32];
	value_datetime_format(t, s);
	WIRE_LIT(b, "<value><dateTime.iso8601>");
	wire_put(b, s, strlen(s));
	WIRE_LIT(b, "</dateTime.iso8601></value>");
}

/* Clients know no null: an empty string, as for void. */
static void x_nil(struct value_sink *k)
{
	WIRE_LIT(XB(k), "<value></value>");
}

static void x_array_begin(struct value_sink *k)
{
	WIRE_LIT(XB(k), "<value><array><data>");
}

static void x_array_end(struct value_sink *k)
{
	WIRE_LIT(XB(k), "</data></array></value>");
}

static void x_struct_begin(struct value_sink *k)
{
	WIRE_LIT(XB(k), "<value><struct>");
}

static void x_member(struct value_sink *k, const char *key, size_t n, bool key_static)
{
	struct buf *b = XB(k);
	WIRE_LIT(b, "<member><name>");
	if (key_static)
		wire_put(b, key, n); /* a datamodel field name: nothing to escape */
	else
		wire_escape_xml(b, key, n);
	WIRE_LIT(b, "</name>");
}

static void x_member_end(struct value_sink *k)
{
	WIRE_LIT(XB(k), "</member>");
}

static void x_struct_end(struct value_sink *k)
{
	WIRE_LIT(XB(k), "</struct></value>");
}

static const struct value_sink_ops xml_ops = {
	.string = x_string,
	.integer = x_integer,
	.real = x_real,
	.boolean = x_boolean,
	.datetime = x_datetime,
	.nil = x_nil,
	.array_begin = x_array_begin,
	.array_end = x_array_end,
	.struct_begin = x_struct_begin,
	.member = x_member,
	.member_end = x_member_end,
	.struct_end = x_struct_end,
};

static void put_value(struct buf *b, const struct value *v)
{
	struct xml_writer w = { { &xml_ops }, b };
	value_emit(v, &w.k);
}

#define RESPONSE_HEAD "<?xml version=\"1.0\"?><methodResponse><params><param>"
#define RESPONSE_TAIL "</param></params></methodResponse>"

void xmlrpc_encode_success(struct buf *b, const struct value *v)
{
	WIRE_LIT(b, RESPONSE_HEAD "<value><struct><member><name>Status</name><value>Success</value></member>"
	       "<member><name>Value</name>");
	put_value(b, v);
	WIRE_LIT(b, "</member></struct></value>" RESPONSE_TAIL);
	wire_finish(b);
}

void xmlrpc_encode_failure(struct buf *b, const struct xc_error *err)
{
	const char *code = xc_error_wire_code(err);
	unsigned n;
	char *const *params = xc_error_wire_params(err, &n);
	WIRE_LIT(b, RESPONSE_HEAD "<value><struct><member><name>Status</name><value>Failure</value></member>"
	       "<member><name>ErrorDescription</name><value><array><data><value>");
	wire_escape_xml(b, code, strlen(code));
	WIRE_LIT(b, "</value>");
	for (unsigned i = 0; i < n; i++) {
		WIRE_LIT(b, "<value>");
		wire_escape_xml(b, params[i], strlen(params[i]));
		WIRE_LIT(b, "</value>");
	}
	WIRE_LIT(b, "</data></array></value></member></struct></value>" RESPONSE_TAIL);
	wire_finish(b);
}

void xmlrpc_encode_bare(struct buf *b, const struct value *v)
{
	WIRE_LIT(b, RESPONSE_HEAD);
	put_value(b, v);
	WIRE_LIT(b, RESPONSE_TAIL);
	wire_finish(b);
}

void xmlrpc_encode_value(struct buf *b, const struct value *v)
{
	put_value(b, v);
	wire_finish(b);
}

char *xmlrpc_value_fragment(const struct value *v)
{
	struct buf b = BUF_INIT;
	buf_reserve(&b, 64);
	xmlrpc_encode_value(&b, v);
	return buf_steal(&b, NULL);
}
