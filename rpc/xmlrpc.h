/* XML-RPC codec: methodCall in (our own parser, xmlrpc_parse.c), xapi's
 * reply dialect out (xmlrpc.c).
 *
 * Decoding accepts whatever XenAPI clients send: untyped or <string> text,
 * <i4>/<int>/<i8>/<ex:i8>, <double>, <boolean>, <dateTime.iso8601> (with or
 * without dashes), <base64> (decoded to a string), <nil/> and <ex:nil/>,
 * arrays and structs; an XML declaration (UTF-8 or ISO-8859-1), comments,
 * processing instructions, CDATA, the predefined entities and character
 * references.  DTDs are refused.  A literal CR reads as LF (XML line ends),
 * &#13; as CR.
 *
 * Encoding follows xapi byte for byte: no whitespace between elements,
 * strings and ints as untyped <value>text</value>, floats as %.16g <double>,
 * booleans as <boolean>0|1</boolean>, datetimes as YYYYMMDDTHH:MM:SSZ, and
 * replies wrapped in the {Status, Value | ErrorDescription} struct, never a
 * <fault>.  Xen Orchestra's parser keeps whitespace, so pretty-printing would
 * break it.
 *
 * The exported names avoid xmlrpc-c's own (xmlrpc_parse_call and friends).
 */
#ifndef XCON_RPC_XMLRPC_H
#define XCON_RPC_XMLRPC_H

#include <stddef.h>

#include "../util/buf.h"
#include "../util/error.h"
#include "../util/value.h"
#include "wire.h"

/* Largest request document accepted (the HTTP layer refuses bigger bodies
 * before they reach the parser). */
#define XMLRPC_MAX_DOC (64u << 20)
/* Deepest array/struct nesting accepted; XenAPI values nest a few levels. */
#define XMLRPC_MAX_NESTING 64
/* Most elements and struct members in one request: a VM.create record is a
 * few hundred. */
#define XMLRPC_MAX_ELEMENTS 400000u
#define XMLRPC_MAX_MEMBERS 10000u

/* Parses a methodCall.  On success returns 0 with *method (caller frees) and
 * *params (an array value, caller unrefs).  Ints of every width decode as
 * plain ints, base64 as strings; a repeated struct member name keeps its
 * first place and its last value.  On malformed input returns -1 with
 * err = XMLRPC_UNMARSHAL_FAILURE ["methodCall", <parser message>] and both
 * outputs NULL.  Thread-safe; recursion is bounded by XMLRPC_MAX_NESTING. */
int xmlrpc_decode_call(const char *xml, size_t len, char **method, struct value **params,
		       struct xc_error *err);

/* Appends a complete methodResponse: Status=Success with Value=v (NULL is
 * the void result, an empty string); with d, a lazy v is left out for d
 * (wire.h). */
void xmlrpc_encode_success(struct buf *b, const struct value *v, struct wire_deferred *d);
/* Appends a complete methodResponse: Status=Failure with ErrorDescription =
 * [code, params...]. */
void xmlrpc_encode_failure(struct buf *b, const struct xc_error *err);
/* Appends a methodResponse whose param is v itself, without the Status
 * struct: how xapi answers system.listMethods. */
void xmlrpc_encode_bare(struct buf *b, const struct value *v);
/* Appends the <value>...</value> fragment of v. */
void xmlrpc_encode_value(struct buf *b, const struct value *v);

/* The <value> fragment of v as a new string (caller frees): what task.result
 * holds, whatever protocol the client speaks.  An engine_result_encoder. */
char *xmlrpc_value_fragment(const struct value *v);

#endif
