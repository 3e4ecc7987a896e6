/* Log sink: one line per record, timestamped, written with one fputs so that
 * lines from different threads do not interleave. */
#include "log.h"
#include "buf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

enum log_level log_threshold = LOG_INFO;
static FILE *sink;
static const char *const names[] = { "error", "warn", "info", "debug" };

void log_set_sink(FILE *f) { sink = f; }
void log_set_level(enum log_level l) { log_threshold = l; }

static void vlog(enum log_level l, const char *module, const char *fmt, va_list ap)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%04d-%02d-%02d %02d:%02d:%02d.%03ld [%s] %s: ", tm.tm_year + 1900,
		   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		   (long)(tv.tv_usec / 1000), names[l], module);
	va_list ap2;
	va_copy(ap2, ap);
	char tmp[1];
	int n = vsnprintf(tmp, 1, fmt, ap2);
	va_end(ap2);
	if (n > 0) {
		buf_reserve(&b, (size_t)n);
		vsnprintf(b.data + b.len, (size_t)n + 1, fmt, ap);
		b.len += (size_t)n;
	}
	buf_addc(&b, '\n');
	FILE *f = sink ? sink : stderr;
	fputs(b.data, f);
	fflush(f);
	buf_free(&b);
}

void log_write(enum log_level l, const char *module, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(l, module, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_ERROR, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
