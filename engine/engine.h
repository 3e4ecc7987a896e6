/* The engine's public face: one call, values in and out.
 *
 *   engine_call(engine, ctx, "VM.start", [session, vm, false, false]) -> value | error
 *
 * rpc/ turns XML-RPC and JSON-RPC requests into this call and back; the TUI
 * and `xe` reach it through the client library, in-process or over the wire.
 * Every message of the datamodel (dm/dm.h), generated or custom, and every
 * Async.<Class>.<message> goes through here, so everything a screen can do a
 * script can do too.
 *
 * Threads: engine_call may be called from any number of threads at once.  A
 * call that blocks (event.next, event.from) blocks only its own thread.
 */
#ifndef XCON_ENGINE_H
#define XCON_ENGINE_H

#include <stdbool.h>

#include "../util/error.h"
#include "../util/value.h"

struct engine;

/* Serialises a value as the XML-RPC <value> fragment that task.result holds
 * (xapi's convention, even for JSON-RPC clients).  Supplied by the codec layer
 * so the engine stays free of wire formats. */
typedef char *(*engine_result_encoder)(const struct value *v);

struct engine_opts {
	const char *state_dir;         /* SQLite database, SR files; created if missing */
	const char *backend;           /* "sim", "xen" or "auto" */
	unsigned sim_hosts;            /* hosts in the simulated pool (>= 1) */
	unsigned session_timeout_s;    /* idle sessions expire after this (0: 24 h) */
	unsigned auth_fail_delay_ms;   /* pause before answering a failed login */
	const char *pam_service;       /* "xcon" unless set */
	bool sync_full;                /* fsync every commit (power-loss durable) */
	unsigned workers;              /* task worker threads (0: default) */
	unsigned event_buffer;         /* events kept for event.next/from (0: default) */
	engine_result_encoder encode_result;
	const char *version;           /* xcon's version, for bug reports */
	/* host.restart_agent: asks the process to restart the engine once the
	 * reply has gone out (cmd/xcon.c re-executes itself).  NULL: the engine
	 * cannot be restarted from the API (in-process use, tests). */
	void (*restart)(void *cookie);
	void *restart_cookie;
};

/* Opens (creating and populating on first start) the engine's state.
 * Returns NULL with err set when the state cannot be opened. */
struct engine *engine_open(const struct engine_opts *opts, struct xc_error *err);
/* Starts shutting down: every blocked event call returns SESSION_INVALID
 * now, so listeners can drain their connections before engine_close. */
void engine_interrupt(struct engine *e);
/* Finishes running tasks' bookkeeping and closes the store; NULL is fine. */
void engine_close(struct engine *e);

/* Who is calling: decides trust and appears in the log. */
struct call_ctx {
	bool trusted;        /* local unix socket or in-process: logins skip PAM */
	const char *origin;  /* "unix", "127.0.0.1:4242", "in-process" */
};

/* Runs one API call.  method: wire name, maybe prefixed "Async.".  args: an
 * array value, the session ref first for every message that takes one.
 * Returns a new reference to the result, or NULL with err set to the XenAPI
 * error.  Never aborts on bad input.  A big result may be lazy (get_all_records:
 * util/value.h, VALUE_LAZY), holding a read snapshot until it is dropped:
 * writers stream it (value_lazy_step), anyone else takes value_materialize(),
 * which is NULL if the store could not be read. */
struct value *engine_call(struct engine *e, const struct call_ctx *ctx, const char *method,
			  const struct value *args, struct xc_error *err);

/* Which backend runs ("sim" or "xen"), for the start-up message. */
const char *engine_backend_name(const struct engine *e);

#endif
