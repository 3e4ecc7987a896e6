/* From request body to reply body: decode, call, encode.  The glue between
 * the codecs and the call callback, free of HTTP so it can be tested and
 * reused (the console tunnel and the CLI handler will want the same). */
#ifndef XCON_RPC_DISPATCH_H
#define XCON_RPC_DISPATCH_H

#include <stddef.h>

#include "http.h"
#include "../util/buf.h"

struct dispatch {
	rpc_call_fn call;
	void *cookie;
};

/* Answers one XML-RPC request body; appends the reply to out.  Malformed
 * input yields a Failure envelope (XMLRPC_UNMARSHAL_FAILURE). */
void dispatch_xmlrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		     struct buf *out);

/* Answers one JSON-RPC request body; appends the reply to out. */
void dispatch_jsonrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		      struct buf *out);

#endif
