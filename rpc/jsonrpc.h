/* JSON-RPC codec: requests in (through jansson), replies out (own writer).
 *
 * Both 1.0 framing (XenCenter before it knows the API version) and 2.0
 * (Xen Orchestra, newer XenCenter) are spoken; a reply uses the request's
 * framing.  Values map as xapi maps them: ints are JSON integers, datetimes
 * strings in the XenAPI wire format, maps objects.
 *
 *   v1 ok    {"result":<v>,"error":null,"id":<id>}
 *   v1 fail  {"result":null,"error":["CODE","p1",...],"id":<id>}
 *   v2 ok    {"jsonrpc":"2.0","result":<v>,"id":<id>}
 *   v2 fail  {"jsonrpc":"2.0","error":{"code":1,"message":"CODE","data":["p1",...]},"id":<id>}
 *
 * Requests the codec cannot use are answered with JSON-RPC 2.0's own error
 * objects: -32700 "Parse error" (not JSON) and -32600 "Invalid Request" (no
 * method, no id, params not an array, too deep or too many values),
 * data = [detail], id null unless the request's id could be read.
 */
#ifndef XCON_RPC_JSONRPC_H
#define XCON_RPC_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/buf.h"
#include "../util/error.h"
#include "../util/value.h"
#include "wire.h"

/* Deepest array/object nesting accepted, as for XML-RPC. */
#define JSONRPC_MAX_NESTING 64
/* Most values in one request (roughly: separators outside strings). */
#define JSONRPC_MAX_VALUES 400000u

enum jsonrpc_fault {
	JSONRPC_PARSE_ERROR = -32700,
	JSONRPC_INVALID_REQUEST = -32600,
};

struct jsonrpc_request {
	char *method;
	struct value *params; /* always an array */
	struct value *id;     /* a string or an int, echoed in the reply */
	bool v2;
};

/* Parses a request.  On success returns 0 and fills req.  Otherwise returns
 * JSONRPC_PARSE_ERROR or JSONRPC_INVALID_REQUEST with the detail in *detail
 * (caller frees); req then holds at most the id, when one could be read.
 * Either way release req with jsonrpc_request_clear. */
int jsonrpc_decode(const char *json, size_t len, struct jsonrpc_request *req, char **detail);
void jsonrpc_request_clear(struct jsonrpc_request *req);

/* Appends the reply to req carrying result (NULL: the void result, "");
 * with d, a lazy result is left out for d (wire.h). */
void jsonrpc_encode_success(struct buf *b, const struct jsonrpc_request *req, const struct value *result,
			    struct wire_deferred *d);
/* Appends the failure reply to req. */
void jsonrpc_encode_failure(struct buf *b, const struct jsonrpc_request *req, const struct xc_error *err);
/* Appends the 2.0 error object for a request that could not be decoded;
 * id NULL is sent as null. */
void jsonrpc_encode_fault(struct buf *b, int code, const char *detail, const struct value *id);

/* Appends v as compact JSON. */
void jsonrpc_encode_value(struct buf *b, const struct value *v);

#endif
