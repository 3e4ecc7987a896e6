/* bin/xcon: the entry point.
 *
 *   xcon --headless [options]   the engine and its listeners in the
 *                               foreground, logging to stderr (systemd, tests)
 *   xcon [options]              the console (TUI), built by a later issue
 *
 * Headless start-up: engine_open, rpc_server_start, then one line
 * "xcon: listening on <socket>[ and <addr:port>]" on stderr, which tests and
 * scripts wait for.  SIGTERM or SIGINT stops the listeners, then the engine,
 * and exits 0.  Bad usage exits 2, a failed start 1.
 *
 * host.restart_agent re-executes the program in place (same pid, same
 * argv), handing the listening sockets over in XCON_LISTEN_FDS (xcon_restart.c).
 */
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "../rpc/http.h"
#include "../rpc/xmlrpc.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "../util/xalloc.h"
#include "xcon.h"

#define LOG_MODULE "xcon"

#ifndef XCON_VERSION
#define XCON_VERSION "0.1"
#endif

struct options {
	bool headless;
	const char *state_dir;
	const char *socket_path;
	const char *listen;
	const char *backend;
	unsigned sim_hosts;
	unsigned session_timeout_s;
	unsigned auth_fail_delay_ms;
	unsigned event_buffer;
	unsigned workers;
	enum log_level log_level;
	bool sync_full;
};

static const char usage_text[] =
	"usage: xcon [--headless] [options]\n"
	"\n"
	"  --headless               run the engine and its listeners in the foreground\n"
	"  --state-dir DIR          state directory (default /var/lib/xcon)\n"
	"  --socket PATH            local API socket (default /run/xcon/xcon.sock)\n"
	"  --listen ADDR:PORT       also serve the API over TCP (IPv4, [IPv6] or host name;\n"
	"                           port 0 picks a free port)\n"
	"  --backend sim|xen|auto   hypervisor backend (default auto: Xen when this is a\n"
	"                           Xen control domain, else a simulated host)\n"
	"  --sim-hosts N            hosts in the simulated pool (default 1)\n"
	"  --session-timeout SECS   expire idle sessions after SECS (default 24 h)\n"
	"  --auth-fail-delay MS     pause before answering a failed login (default 3000)\n"
	"  --event-buffer N         events kept for event.next/event.from (default 10000)\n"
	"  --workers N              threads running Async tasks (default 16)\n"
	"  --log-level LEVEL        error, warn, info or debug (default info)\n"
	"  --sync full|normal       fsync every commit, or leave it to SQLite (default full)\n"
	"  --help                   show this help\n"
	"  --version                show the version\n";

static const struct {
	const char *name;
	enum log_level level;
} log_levels[] = {
	{ "error", LOG_ERROR }, { "warn", LOG_WARN }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

static const char *const backends[] = { "sim", "xen", "auto" };

static const struct {
	const char *name;
	bool full;
} sync_modes[] = { { "full", true }, { "normal", false } };

/* What the start-up log says about each backend. */
static const struct {
	const char *name;
	const char *chosen;     /* --backend named it */
	const char *automatic;  /* --backend auto picked it */
} backend_texts[] = {
	{ "sim", "simulated host", "simulated host (no Xen control domain found)" },
	{ "xen", "Xen (libxenlight)", "Xen (libxenlight; this is a Xen control domain)" },
};

enum { OPT_STATE_DIR = 256, OPT_SOCKET, OPT_LISTEN, OPT_BACKEND, OPT_SIM_HOSTS, OPT_SESSION_TIMEOUT,
       OPT_AUTH_FAIL_DELAY, OPT_EVENT_BUFFER, OPT_WORKERS, OPT_LOG_LEVEL, OPT_SYNC, OPT_HEADLESS, OPT_HELP, OPT_VERSION };

static const struct option long_options[] = {
	{ "headless", no_argument, NULL, OPT_HEADLESS },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "sim-hosts", required_argument, NULL, OPT_SIM_HOSTS },
	{ "session-timeout", required_argument, NULL, OPT_SESSION_TIMEOUT },
	{ "auth-fail-delay", required_argument, NULL, OPT_AUTH_FAIL_DELAY },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "sync", required_argument, NULL, OPT_SYNC },
	{ "event-buffer", required_argument, NULL, OPT_EVENT_BUFFER },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("xcon: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(usage_text, stderr);
	exit(2);
}

/* A decimal number in [min, max]; anything else is a usage error. */
static unsigned parse_unsigned(const char *opt, const char *s, unsigned min, unsigned max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max)
		usage_error("--%s: expected a number from %u to %u, got '%s'", opt, min, max, s);
	return (unsigned)v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	int c;
	opterr = 0; /* our own message, then the usage */
	while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_HEADLESS: o->headless = true; break;
		case OPT_STATE_DIR: o->state_dir = optarg; break;
		case OPT_SOCKET: o->socket_path = optarg; break;
		case OPT_LISTEN: o->listen = optarg; break;
		case OPT_BACKEND: {
			size_t i = 0;
			while (i < ARRAY_SIZE(backends) && strcmp(backends[i], optarg) != 0)
				i++;
			if (i == ARRAY_SIZE(backends))
				usage_error("--backend: expected sim, xen or auto, got '%s'", optarg);
			o->backend = backends[i];
			break;
		}
		case OPT_SIM_HOSTS: o->sim_hosts = parse_unsigned("sim-hosts", optarg, 1, 64); break;
		case OPT_SESSION_TIMEOUT:
			o->session_timeout_s = parse_unsigned("session-timeout", optarg, 1, UINT_MAX);
			break;
		case OPT_AUTH_FAIL_DELAY:
			o->auth_fail_delay_ms = parse_unsigned("auth-fail-delay", optarg, 0, 600000);
			break;
		case OPT_EVENT_BUFFER: o->event_buffer = parse_unsigned("event-buffer", optarg, 16, 10000000); break;
		case OPT_WORKERS: o->workers = parse_unsigned("workers", optarg, 1, 1024); break;
		case OPT_LOG_LEVEL: {
			size_t i = 0;
			while (i < ARRAY_SIZE(log_levels) && strcmp(log_levels[i].name, optarg) != 0)
				i++;
			if (i == ARRAY_SIZE(log_levels))
				usage_error("--log-level: expected error, warn, info or debug, got '%s'", optarg);
			o->log_level = log_levels[i].level;
			break;
		}
		case OPT_SYNC: {
			size_t i = 0;
			while (i < ARRAY_SIZE(sync_modes) && strcmp(sync_modes[i].name, optarg) != 0)
				i++;
			if (i == ARRAY_SIZE(sync_modes))
				usage_error("--sync: expected full or normal, got '%s'", optarg);
			o->sync_full = sync_modes[i].full;
			break;
		}
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("xcon %s\n", XCON_VERSION);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

/* "CODE: p1, p2" for start-up failures. */
static char *error_text(const struct xc_error *err)
{
	struct buf b = BUF_INIT;
	unsigned n;
	char *const *params = xc_error_wire_params(err, &n);
	buf_adds(&b, xc_error_wire_code(err));
	for (unsigned i = 0; i < n; i++) {
		buf_adds(&b, i ? ", " : ": ");
		buf_adds(&b, params[i]);
	}
	return buf_steal(&b, NULL);
}

static void log_backend(const struct engine *e, const char *requested)
{
	const char *name = engine_backend_name(e);
	bool automatic = strcmp(requested, "auto") == 0;
	for (size_t i = 0; i < ARRAY_SIZE(backend_texts); i++) {
		if (strcmp(backend_texts[i].name, name) == 0) {
			log_info("backend: %s", automatic ? backend_texts[i].automatic : backend_texts[i].chosen);
			return;
		}
	}
	log_info("backend: %s", name);
}

static struct value *call_engine(void *cookie, const struct call_ctx *ctx, const char *method,
				 const struct value *args, struct xc_error *err)
{
	return engine_call(cookie, ctx, method, args, err);
}

/* A second SIGTERM/SIGINT during shutdown ends the process at once: stopping
 * waits for calls in progress, and one blocked in event.next can wait long. */
static void *second_signal_main(void *arg)
{
	const sigset_t *stop = arg;
	int sig;
	if (sigwait(stop, &sig) == 0) {
		log_warn("second signal: exiting without waiting for calls in progress");
		_exit(1);
	}
	return NULL;
}

static int run_headless(const struct options *o, char **argv)
{
	/* Blocked before any thread exists, so every thread inherits the mask
	 * and only sigwait below ever sees these.  SIGUSR1 is the restart
	 * request (xcon_restart.c); a SIGTERM that comes during a restart stays
	 * pending across the exec and stops the new image. */
	static sigset_t stop; /* static: the watchdog thread reads it */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigset_t wake = stop;
	sigaddset(&wake, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &wake, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct inherited_fds inh;
	restart_take_inherited(&inh);

	XC_AUTOERROR err = XC_ERROR_INIT;
	struct engine_opts eo = {
		.state_dir = o->state_dir,
		.backend = o->backend,
		.sim_hosts = o->sim_hosts,
		.session_timeout_s = o->session_timeout_s,
		.auth_fail_delay_ms = o->auth_fail_delay_ms,
		.event_buffer = o->event_buffer,
		.workers = o->workers,
		.sync_full = o->sync_full,
		.encode_result = xmlrpc_value_fragment,
		.version = XCON_VERSION,
		.restart = restart_request,
	};
	struct engine *e = engine_open(&eo, &err);
	if (!e) {
		XC_AUTOFREE char *msg = error_text(&err);
		log_error("cannot open the engine in %s: %s", o->state_dir, msg);
		return 1;
	}
	log_backend(e, o->backend);

	struct rpc_server_opts ro = { .socket_path = o->socket_path, .listen = o->listen,
				      .call = call_engine, .cookie = e,
				      .inherit = inh.present, .unix_fd = inh.unix_fd, .tcp_fd = inh.tcp_fd };
	struct rpc_server *srv = rpc_server_start(&ro, &err);
	if (!srv) {
		XC_AUTOFREE char *msg = error_text(&err);
		log_error("cannot start the listeners: %s", msg);
		engine_close(e);
		return 1;
	}
	const char *tcp = rpc_server_tcp_address(srv);
	fprintf(stderr, "xcon: listening on %s%s%s\n", o->socket_path, tcp ? " and " : "", tcp ? tcp : "");
	fflush(stderr);

	int sig = 0;
	while (sigwait(&wake, &sig) != 0 || (sig == SIGUSR1 && !restart_requested()))
		;
	if (sig == SIGUSR1)
		return restart_exec(srv, e, argv);
	log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	pthread_t watchdog;
	if (pthread_create(&watchdog, NULL, second_signal_main, &stop) == 0)
		pthread_detach(watchdog);
	engine_interrupt(e); /* blocked event calls return, so connections drain */
	rpc_server_stop(srv);
	engine_close(e);
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	/* Reply buffers past a megabyte (get_all_records of thousands of VMs:
	 * tens of megabytes) get pages of their own: growing one is an mremap,
	 * not a copy, and freeing it gives the memory back at once.  Small
	 * allocations stay in the heap, kept between calls; the engine trims
	 * the heap when idle (session.c). */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);

	struct options o = {
		.state_dir = "/var/lib/xcon",
		.socket_path = "/run/xcon/xcon.sock",
		.backend = "auto",
		.sim_hosts = 1,
		.auth_fail_delay_ms = 3000,
		.log_level = LOG_INFO,
		.sync_full = true,
	};
	parse_options(argc, argv, &o);
	log_set_level(o.log_level);
	if (!o.headless) {
		fputs("xcon: the console (TUI) is not built yet; "
		      "run 'xcon --headless' to start the engine and its API listeners.\n", stderr);
		return 1;
	}
	return run_headless(&o, argv);
}
