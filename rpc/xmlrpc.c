/* XML-RPC replies (see xmlrpc.h; requests are parsed in xmlrpc_parse.c).
 *
 * Replies are written by hand straight into a buf: a library serialiser
 * (xmlrpc-c's) pretty-prints and types strings, both of which xapi clients
 * reject, and the writer is the hot path of every call.
 */
#include "xmlrpc.h"
#include "wire.h"

#include <stdio.h>
#include <string.h>

#include "../util/value_sink.h"
#include "../util/xalloc.h"

/* The writer is a struct wire_writer (wire.h). */
static struct buf *XB(struct value_sink *k)
{
	return ((struct wire_writer *)k)->b;
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
	struct wire_writer w = { { &xml_ops }, b, false };
	value_emit(v, &w.k);
}

#define RESPONSE_HEAD "<?xml version=\"1.0\"?><methodResponse><params><param>"
#define RESPONSE_TAIL "</param></params></methodResponse>"

void xmlrpc_encode_success(struct buf *b, const struct value *v, struct wire_deferred *d)
{
	WIRE_LIT(b, RESPONSE_HEAD "<value><struct><member><name>Status</name><value>Success</value></member>"
	       "<member><name>Value</name>");
	struct wire_writer w = { { &xml_ops }, b, false };
	wire_put_result(&w, v, d);
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
