/* What both load generators (xmlrpc_client.c, libvirt_client.c) measure
 * with: clocks, CPU time from /proc, percentiles, and the windowed rate of
 * a call loop.  bench/run compiles bench_util.c into each. */
#ifndef XCON_BENCH_UTIL_H
#define XCON_BENCH_UTIL_H

#include <stddef.h>

#define WINDOWS 5 /* measuring windows of a throughput loop */

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* Sleeps s seconds, through EINTR. */
void sleep_s(double s);
/* utime+stime of a process in microseconds (/proc/<pid>/stat), -1 when
 * unreadable or pid <= 0. */
double proc_cpu_us(long pid);
/* qsort order for doubles; the nearest-rank percentile p of a sorted array. */
int cmp_double(const void *a, const void *b);
double pct(const double *v, size_t n, double p);

/* The call counters of a loop's threads: an atomic_ulong at `offset` in
 * each of the n elements of an array of `stride` bytes (the threads' jobs). */
struct counters {
	const void *base;
	size_t stride, offset;
	long n;
};
unsigned long counters_sum(const struct counters *c);

/* The rate of a running loop in WINDOWS windows of secs/WINDOWS from time
 * t0, when its counters summed to c0; rate[] comes back sorted, so the
 * median window (rate[WINDOWS / 2], robust against a burst of other load on
 * a shared box) is the figure and rate[0], rate[WINDOWS - 1] bracket it. */
void rate_windows(double secs, double t0, unsigned long c0, const struct counters *c, double rate[WINDOWS]);

#endif
