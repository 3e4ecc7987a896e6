/* host.bugreport_upload: xapi runs xen-bugtool and hands the result to an
 * upload script built on curl.  Here the report is collected in-process
 * (xcon's own state takes the place of dom0's files) into a temporary file
 * in the state directory, and uploaded by running curl with --upload-file
 * (an HTTP PUT for http:// URLs): engine/ holds no HTTP code, and a program
 * is what xapi runs too.
 *
 * The report is plain text, one "== section ==" after another: versions,
 * the host record, object counts per class, the hypervisor's console ring,
 * the engine log (not kept: it goes to stderr or the journal) and SQLite's
 * integrity_check.
 *
 * Failures map curl's exit codes to the messages xapi gives them
 * (INTERNAL_ERROR [msg]); any other failure names curl's status and its
 * stderr. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/spawn.h"
#include "../util/xalloc.h"

#define LOG_MODULE "bugreport"

/* ---- collecting ---- */

static void put_value(struct buf *b, const struct value *v)
{
	switch (v ? v->type : VALUE_NIL) {
	case VALUE_STRING: buf_add(b, v->u.str.s, v->u.str.len); break;
	case VALUE_INT: buf_add_i64(b, v->u.i); break;
	case VALUE_FLOAT: buf_printf(b, "%.16g", v->u.f); break;
	case VALUE_BOOL: buf_adds(b, v->u.b ? "true" : "false"); break;
	case VALUE_DATETIME: {
		char t[32];
		value_datetime_format(v->u.t, t);
		buf_adds(b, t);
		break;
	}
	case VALUE_ARRAY:
		buf_addc(b, '[');
		for (size_t i = 0; i < v->u.arr.n; i++) {
			buf_adds(b, i ? ", " : "");
			put_value(b, v->u.arr.items[i]);
		}
		buf_addc(b, ']');
		break;
	case VALUE_STRUCT:
		buf_addc(b, '{');
		for (size_t i = 0; i < v->u.st.n; i++) {
			buf_printf(b, "%s%s: ", i ? ", " : "", v->u.st.m[i].key);
			put_value(b, v->u.st.m[i].val);
		}
		buf_addc(b, '}');
		break;
	default: break;
	}
}

static void section(struct buf *b, const char *title)
{
	buf_printf(b, "\n== %s ==\n", title);
}

static int put_host(struct buf *b, struct store_txn *t, const char *host, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("host"), host, err);
	if (!rec)
		return -1;
	section(b, "host record");
	for (size_t i = 0; i < rec->u.st.n; i++) {
		buf_printf(b, "%s: ", rec->u.st.m[i].key);
		put_value(b, rec->u.st.m[i].val);
		buf_addc(b, '\n');
	}
	return 0;
}

static void put_counts(struct buf *b, struct engine *e)
{
	section(b, "objects per class");
	for (unsigned i = 0; i < dm_class_count(); i++) {
		const struct dm_class *c = dm_class_at(i);
		if (!(c->flags & DM_C_NO_RECORDS))
			buf_printf(b, "%s: %llu\n", c->name, (unsigned long long)store_count(e->store, c));
	}
}

/* The report's sections can fail only where the host or the database does:
 * a section that cannot be read says why instead of losing the report. */
static int collect(struct op_ctx *c, const char *host, struct hv *hv, struct buf *b, struct xc_error *err)
{
	char now[32];
	value_datetime_format((int64_t)time(NULL), now);
	buf_printf(b, "xcon bug report\ngenerated: %s\n", now);
	section(b, "versions");
	buf_printf(b, "xcon: %s\nbackend: %s\n", c->e->opts.version ? c->e->opts.version : "unknown",
		   engine_backend_name(c->e));
	struct store_txn *t = store_read(c->e->store);
	int rc = put_host(b, t, host, err);
	XC_AUTOFREE char *check = NULL;
	struct xc_error cerr = XC_ERROR_INIT;
	if (rc == 0)
		check = store_integrity_check(t, &cerr);
	store_commit(t, NULL);
	if (rc < 0) {
		xc_error_clear(&cerr);
		return -1;
	}
	put_counts(b, c->e);
	section(b, "hypervisor dmesg");
	char *dmesg = NULL;
	struct xc_error derr = XC_ERROR_INIT;
	if (hv_host_dmesg(hv, false, &dmesg, &derr) == 0)
		buf_adds(b, dmesg);
	else
		buf_printf(b, "(unavailable: %s)\n", xc_error_wire_code(&derr));
	free(dmesg);
	xc_error_clear(&derr);
	section(b, "engine log");
	buf_adds(b, "(not kept by the engine: it logs to stderr or the journal)\n");
	section(b, "database integrity_check");
	if (check)
		buf_adds(b, check);
	else
		buf_printf(b, "(could not run: %s)\n", xc_error_wire_code(&cerr));
	xc_error_clear(&cerr);
	return 0;
}

/* Writes the report to a new file in the state directory; its path, or NULL. */
static char *write_report(struct op_ctx *c, const struct buf *b, struct xc_error *err)
{
	char *path = xasprintf("%s/bugreport-XXXXXX.txt", c->e->state_dir);
	int fd = mkostemps(path, 4, O_CLOEXEC);
	if (fd < 0) {
		xc_error_internal(err, "cannot create a bug report in %s: %s", c->e->state_dir, strerror(errno));
		free(path);
		return NULL;
	}
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			xc_error_internal(err, "cannot write %s: %s", path, n < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(path);
			free(path);
			return NULL;
		}
		off += (size_t)n;
	}
	close(fd);
	return path;
}

/* ---- uploading ---- */

static bool cancel_asked(void *cookie)
{
	return task_cancelled(cookie);
}

/* xapi's reading of curl's exit status (curl(1) EXIT CODES). */
static const char *curl_failure(int status)
{
	switch (status) {
	case 1: case 3: case 4: return "URL not recognised";
	case 5: case 6: return "Failed to resolve proxy or host";
	case 7: return "Failed to connect to host";
	case 9: return "FTP access denied";
	default: return NULL;
	}
}

static int upload(struct op_ctx *c, const char *file, const char *url, const struct value *options,
		  struct xc_error *err)
{
	/* Without an http_proxy option curl reads the http_proxy variable
	 * itself, which is xapi's fallback too. */
	const char *proxy = value_struct_get_str(options, "http_proxy");
	const char *argv[16];
	size_t n = 0;
	argv[n++] = "curl";
	argv[n++] = "--silent";
	argv[n++] = "--show-error";
	argv[n++] = "--fail";
	argv[n++] = "--upload-file";
	argv[n++] = file;
	if (proxy) {
		argv[n++] = "--proxy";
		argv[n++] = proxy;
	}
	argv[n++] = "--url"; /* never an option, whatever url starts with */
	argv[n++] = url;
	argv[n] = NULL;
	XC_AUTOFREE char *why = NULL;
	int status = spawn_run(argv, cancel_asked, c, &why, err);
	if (status == 0)
		return 0;
	if (status == SPAWN_CANCELLED)
		return task_check_cancel(c, err);
	if (status < 0)
		return -1;
	why[strcspn(why, "\n")] = '\0';
	log_warn("bug report upload failed: curl exited with %d: %s", status, why);
	const char *msg = curl_failure(status);
	if (msg)
		xc_error_set(err, XC_ERR_INTERNAL_ERROR, msg);
	else
		xc_error_internal(err, "bug report upload failed: curl exited with %d: %s", status, why);
	return -1;
}

struct value *op_host_bugreport_upload(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	struct hv *hv = engine_hv_of_host(c->e, host);
	if (!hv) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", host);
		return NULL;
	}
	struct buf b = BUF_INIT;
	int rc = collect(c, host, hv, &b, err);
	XC_AUTOFREE char *file = rc == 0 ? write_report(c, &b, err) : NULL;
	buf_free(&b);
	if (!file)
		return NULL;
	task_progress(c, 0.5);
	rc = upload(c, file, value_str(args[1]), args[2], err);
	unlink(file);
	if (rc < 0)
		return NULL;
	log_info("bug report of host %s uploaded to %s", host, value_str(args[1]));
	return void_result();
}
