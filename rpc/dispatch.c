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

void dispatch_xmlrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		     struct buf *out)
{
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
		xmlrpc_encode_success(out, r);
}

void dispatch_jsonrpc(const struct dispatch *d, const struct call_ctx *ctx, const char *body, size_t len,
		      struct buf *out)
{
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
		jsonrpc_encode_success(out, &req, r);
	else
		jsonrpc_encode_failure(out, &req, &err);
	jsonrpc_request_clear(&req);
}
