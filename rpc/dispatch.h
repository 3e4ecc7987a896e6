/* From request body to reply body: decode, call, encode.  The glue between
 * the codecs and the call callback, free of HTTP so it can be tested and
 * reused (the console tunnel and the CLI handler will want the same). */
#ifndef XCON_RPC_DISPATCH_H
#define XCON_RPC_DISPATCH_H

#include <stddef.h>

#include "http.h"
#include "../util/buf.h"
#include "wire.h"

struct dispatch {
	rpc_call_fn call;
	void *cookie;
};

/* A reply being written.  Most are whole once dispatched; one whose result
 * is lazy (get_all_records) keeps it pending, with the envelope's end in
 * tail, and reply_step() writes it a piece at a time, so a reply of tens of
 * megabytes can be sent as it is made. */
struct reply {
	struct buf *out;        /* the text so far (the caller's buffer) */
	struct wire_deferred d; /* d.v: the result still to write, or NULL */
	struct buf tail;
	bool json, json_v2;     /* for a failure envelope in the right dialect */
	struct value *json_id;
};

/* Answers one XML-RPC request body into r (r->out set, the rest zeroed or
 * reply_clear'ed).  Malformed input yields a Failure envelope
 * (XMLRPC_UNMARSHAL_FAILURE). */
void dispatch_xmlrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		     struct reply *r);

/* Answers one JSON-RPC request body into r, as above. */
void dispatch_jsonrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		      struct reply *r);

/* Appends the next piece of a pending result to r->out, and the envelope's
 * end after the last one.  DONE once nothing is pending; FAILED if the
 * source failed (the text in r->out is then not a reply: see reply_fail). */
enum value_step reply_step(struct reply *r);

/* Replaces r->out with a failure envelope saying the result could not be
 * read, for a source that failed before anything was sent. */
void reply_fail(struct reply *r);

/* Drops what r holds (a pending result holds a read transaction). */
void reply_clear(struct reply *r);

#endif
