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

#include "../util/xalloc.h"

static void encode_double(struct buf *b, double f)
{
	char tmp[40];
	int n = snprintf(tmp, sizeof(tmp), "%.16g", f);
	wire_put(b, tmp, (size_t)n);
}

/* Appends v without terminating (see wire.h); recursion depth is the
 * value's nesting, bounded for decoded input. */
static void put_value(struct buf *b, const struct value *v)
{
	if (!v) {
		WIRE_LIT(b, "<value></value>");
		return;
	}
	switch (v->type) {
	case VALUE_STRING:
		WIRE_LIT(b, "<value>");
		wire_escape_xml(b, v->u.str.s, v->u.str.len);
		WIRE_LIT(b, "</value>");
		break;
	case VALUE_INT:
		if (v->int32) {
			WIRE_LIT(b, "<value><i4>");
			wire_put_i64(b, v->u.i);
			WIRE_LIT(b, "</i4></value>");
			break;
		}
		WIRE_LIT(b, "<value>");
		wire_put_i64(b, v->u.i);
		WIRE_LIT(b, "</value>");
		break;
	case VALUE_FLOAT:
		WIRE_LIT(b, "<value><double>");
		encode_double(b, v->u.f);
		WIRE_LIT(b, "</double></value>");
		break;
	case VALUE_BOOL:
		if (v->u.b)
			WIRE_LIT(b, "<value><boolean>1</boolean></value>");
		else
			WIRE_LIT(b, "<value><boolean>0</boolean></value>");
		break;
	case VALUE_DATETIME: {
		char t[32];
		value_datetime_format(v->u.t, t);
		WIRE_LIT(b, "<value><dateTime.iso8601>");
		wire_put(b, t, strlen(t));
		WIRE_LIT(b, "</dateTime.iso8601></value>");
		break;
	}
	case VALUE_ARRAY:
		WIRE_LIT(b, "<value><array><data>");
		for (size_t i = 0; i < v->u.arr.n; i++)
			put_value(b, v->u.arr.items[i]);
		WIRE_LIT(b, "</data></array></value>");
		break;
	case VALUE_STRUCT:
		WIRE_LIT(b, "<value><struct>");
		for (size_t i = 0; i < v->u.st.n; i++) {
			const char *k = v->u.st.m[i].key;
			WIRE_LIT(b, "<member><name>");
			wire_escape_xml(b, k, strlen(k));
			WIRE_LIT(b, "</name>");
			put_value(b, v->u.st.m[i].val);
			WIRE_LIT(b, "</member>");
		}
		WIRE_LIT(b, "</struct></value>");
		break;
	default: /* nil: clients know no null, so an empty string as for void */
		WIRE_LIT(b, "<value></value>");
		break;
	}
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
