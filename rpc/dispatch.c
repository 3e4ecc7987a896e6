/* Decode, call, encode (see dispatch.h).
 *
 * One debug line per call names the origin, the method and the outcome; the
 * parameters are never logged, so passwords given to session.login_* or
 * session.change_password cannot leak into the log. */
#include "dispatch.h"
#include "jsonrpc.h"
#include "xmlrpc.h"

#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "rpc"

/* Runs the call; returns the result or NULL with err set (never NULL with
 * err clear, whatever the callback does). */
static struct value *run(const struct dispatch *d, const struct call_ctx *ctx, const char *method,
			 const struct value *params, struct xc_error *err)
{
	struct value *r = d->call(d->cookie, ctx, method, params, err);
	if (r && xc_error_isset(err)) {
		value_unref(r);
		r = NULL;
	} else if (!r && !xc_error_isset(err)) {
		xc_error_internal(err, "%s returned neither a result nor an error", method);
	}
	log_debug("%s %s: %s", ctx->origin, method, r ? "ok" : xc_error_wire_code(err));
	return r;
}

/* A deferred result: what the encoder wrote after it is the tail. */
static void hold_pending(struct reply *r)
{
	if (!r->d.v)
		return;
	buf_reset(&r->tail);
	buf_add(&r->tail, r->out->data + r->d.at, r->out->len - r->d.at);
	r->out->len = r->d.at;
}

void dispatch_xmlrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		     struct reply *rp)
{
	struct buf *out = rp->out;
	rp->json = false;
	XC_AUTOERROR err = XC_ERROR_INIT;
	XC_AUTOFREE char *method = NULL;
	XC_AUTOVALUE *params = NULL;
	if (xmlrpc_decode_call(body, len, &method, &params, &err) < 0) {
		log_debug("%s: undecodable XML-RPC request: %s", ctx->origin, err.params[1]);
		xmlrpc_encode_failure(out, &err);
		return;
	}
	XC_AUTOVALUE *r = run(d, ctx, method, params, &err);
	if (!r)
		xmlrpc_encode_failure(out, &err);
	else if (strcmp(method, "system.listMethods") == 0)
		xmlrpc_encode_bare(out, r); /* xapi answers this one without the Status struct */
	else
		xmlrpc_encode_success(out, r, &rp->d);
	hold_pending(rp);
}

void dispatch_jsonrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		      struct reply *rp)
{
	struct buf *out = rp->out;
	XC_AUTOERROR err = XC_ERROR_INIT;
	struct jsonrpc_request req;
	XC_AUTOFREE char *detail = NULL;
	int fault = jsonrpc_decode(body, len, &req, &detail);
	if (fault) {
		log_debug("%s: undecodable JSON-RPC request: %s", ctx->origin, detail);
		jsonrpc_encode_fault(out, fault, detail, req.id);
		jsonrpc_request_clear(&req);
		return;
	}
	XC_AUTOVALUE *r = run(d, ctx, req.method, req.params, &err);
	if (r)
		jsonrpc_encode_success(out, &req, r, &rp->d);
	else
		jsonrpc_encode_failure(out, &req, &err);
	if (rp->d.v) {
		rp->json = true;
		rp->json_v2 = req.v2;
		rp->json_id = req.id ? value_ref(req.id) : NULL;
		hold_pending(rp);
	}
	jsonrpc_request_clear(&req);
}

enum value_step reply_step(struct reply *r)
{
	if (!r->d.v)
		return VALUE_STEP_DONE;
	enum value_step s = value_lazy_step(r->d.v, &r->d.w.k);
	if (s == VALUE_STEP_MORE)
		return s;
	if (s == VALUE_STEP_DONE) {
		wire_put(r->out, r->tail.data, r->tail.len);
		wire_finish(r->out);
	}
	value_unref(r->d.v);
	r->d.v = NULL;
	return s;
}

void reply_fail(struct reply *r)
{
	XC_AUTOERROR err = XC_ERROR_INIT;
	xc_error_internal(&err, "the result could not be read from the database");
	buf_reset(r->out);
	if (r->json) {
		struct jsonrpc_request req = { .id = r->json_id, .v2 = r->json_v2 };
		jsonrpc_encode_failure(r->out, &req, &err);
	} else {
		xmlrpc_encode_failure(r->out, &err);
	}
	value_unref(r->d.v);
	r->d.v = NULL;
}

void reply_clear(struct reply *r)
{
	value_unref(r->d.v);
	value_unref(r->json_id);
	buf_free(&r->tail);
	struct buf *out = r->out;
	memset(r, 0, sizeof(*r));
	r->out = out;
}
