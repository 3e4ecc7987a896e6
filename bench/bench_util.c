/* See bench_util.h. */
#include "bench_util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

double proc_cpu_us(long pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0;
	/* fields 3..13 skipped: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double pct(const double *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

unsigned long counters_sum(const struct counters *c)
{
	unsigned long n = 0;
	for (long k = 0; k < c->n; k++)
		n += atomic_load((const atomic_ulong *)((const char *)c->base + (size_t)k * c->stride + c->offset));
	return n;
}

void rate_windows(double secs, double t0, unsigned long c0, const struct counters *c, double rate[WINDOWS])
{
	unsigned long wc = c0;
	double wt = t0;
	for (int w = 0; w < WINDOWS; w++) {
		sleep_s(secs / WINDOWS);
		unsigned long cn = counters_sum(c);
		double tn = now_s();
		rate[w] = (double)(cn - wc) / (tn - wt);
		wc = cn;
		wt = tn;
	}
	qsort(rate, WINDOWS, sizeof(double), cmp_double);
}
