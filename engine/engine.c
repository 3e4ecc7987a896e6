/* Opening and closing the engine: state directory, store, backend, first
 * start, sessions, events and task workers, in the order they depend on each
 * other. */
#include "engine_priv.h"
#include "vm_state.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "engine"

static int mkdir_p(const char *path, struct xc_error *err)
{
	XC_AUTOFREE char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			goto fail;
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	xc_error_internal(err, "cannot create state directory %s: %s", p, strerror(errno));
	return -1;
}

static void on_hv_event(void *cookie, struct hv *hv, const struct hv_event *ev)
{
	struct engine *e = cookie;
	engine_hv_event(e, hv, ev);
}

struct engine *engine_open(const struct engine_opts *opts, struct xc_error *err)
{
	dm_init();
	struct engine *e = xcalloc(1, sizeof(*e));
	e->opts = *opts;
	e->state_dir = xstrdup(opts->state_dir ? opts->state_dir : "/var/lib/xcon");
	e->opts.state_dir = e->state_dir;
	if (mkdir_p(e->state_dir, err) < 0)
		goto fail;
	e->db_path = xasprintf("%s/xcon.db", e->state_dir);
	e->store = store_open(e->db_path, opts->sync_full, err);
	if (!e->store)
		goto fail;
	const char *backend = opts->backend ? opts->backend : "auto";
	if (strcmp(backend, "auto") == 0) {
		backend = hv_xen_available() ? "xen" : "sim";
		log_info("backend: %s", strcmp(backend, "sim") == 0
						? "simulated host (no Xen control domain found)"
						: "Xen control domain found, using libxenlight");
	}
	e->domwatch = domwatch_open();
	e->nhosts = strcmp(backend, "sim") == 0 && opts->sim_hosts > 1 ? opts->sim_hosts : 1;
	e->hvs = xcalloc(e->nhosts, sizeof(*e->hvs));
	for (unsigned i = 0; i < e->nhosts; i++) {
		e->hvs[i] = hv_open(backend, NULL, i, e->state_dir, on_hv_event, e, err);
		if (!e->hvs[i])
			goto fail;
	}
	e->hv = e->hvs[0];
	e->events = events_open(e, opts->event_buffer);
	if (populate_if_new(e, err) < 0)
		goto fail;
	e->sessions = sessions_open(e, err);
	if (!e->sessions)
		goto fail;
	e->tasks = tasks_open(e, opts->workers, err);
	if (!e->tasks)
		goto fail;
	if (engine_reconcile(e, err) < 0 || reactions_start(e, err) < 0)
		goto fail;
	/* Start-up reads much and keeps little: give the pages back. */
	malloc_trim(0);
	return e;
fail:
	engine_close(e);
	return NULL;
}

void engine_interrupt(struct engine *e)
{
	if (!e)
		return;
	e->stopping = true;
	if (e->events)
		events_wake_all(e->events);
}

void engine_close(struct engine *e)
{
	if (!e)
		return;
	e->stopping = true;
	if (e->events)
		events_wake_all(e->events);
	reactions_stop(e);
	tasks_close(e->tasks);
	sessions_close(e->sessions);
	for (unsigned i = 0; i < e->nhosts; i++)
		hv_close(e->hvs[i]);
	free(e->hvs);
	events_close(e->events);
	domwatch_close(e->domwatch);
	store_close(e->store);
	for (unsigned i = 0; i < e->nhosts && e->host_refs; i++)
		free(e->host_refs[i]);
	free(e->host_refs);
	free(e->pool_ref);
	free(e->db_path);
	free(e->state_dir);
	free(e);
}

const char *engine_backend_name(const struct engine *e)
{
	return e->hv && e->hv->ops ? e->hv->ops->name : "none";
}
