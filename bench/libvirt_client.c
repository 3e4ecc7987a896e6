/* bench/libvirt_client: the peer side of `make bench`.
 *
 * Drives libvirt's test driver served by a private libvirtd (started by
 * bench/run) through libvirt's C API, with the same shapes as the xcon side:
 *
 *   get   = virDomainLookupByName + virDomainGetInfo (+ virDomainFree), the
 *           equivalent of a session-validated VM.get_record (2 RPCs);
 *           1 and 2 connections, each in its own thread
 *   list  = virConnectListAllDomains(conn, &doms, 0) then freeing the
 *           handles, the equivalent of VM.get_all_records (1 RPC returning
 *           names, UUIDs and ids only; no per-domain info)
 *   RSS   = VmRSS / VmHWM of libvirtd from /proc/<pid>/status
 *
 *   libvirt_client URI LIBVIRTD_PID N1 N2 WARM_S SECS LIST_COUNT
 *
 * Domains bench-0 .. bench-(N1-1) are defined (virDomainDefineXML of a
 * minimal inactive domain), measured, then more up to N2.  Everything runs
 * inside this one process holding one connection open throughout: the test
 * driver's test:///default state lives only while some connection uses it.
 * Results are "RESULT lv_<what> key=value ..." lines on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bench_util.h"


static const char *uri;
static long server_pid;

static void die(const char *what)
{
	virErrorPtr e = virGetLastError();
	fprintf(stderr, "libvirt_client: %s: %s\n", what, e && e->message ? e->message : "failed");
	exit(1);
}

static long status_kb(long pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = atol(line + kl + 1);
	fclose(f);
	return v;
}

static void print_rss(const char *when, long n)
{
	printf("RESULT lv_rss when=%s domains=%ld rss_kb=%ld hwm_kb=%ld\n", when, n, status_kb(server_pid, "VmRSS"),
	       status_kb(server_pid, "VmHWM"));
	fflush(stdout);
}

static void define_domains(virConnectPtr c, long from, long to)
{
	double t0 = now_s();
	for (long i = from; i < to; i++) {
		char xml[512];
		snprintf(xml, sizeof xml,
			 "<domain type='test'><name>bench-%ld</name><memory unit='KiB'>65536</memory>"
			 "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>",
			 i);
		virDomainPtr d = virDomainDefineXML(c, xml);
		if (!d)
			die("virDomainDefineXML");
		virDomainFree(d);
	}
	double dt = now_s() - t0;
	printf("RESULT lv_define from=%ld to=%ld secs=%.3f rate=%.0f\n", from, to, dt, (double)(to - from) / dt);
	fflush(stdout);
}

/* ------------------------------------------------------------------ get */

static atomic_bool stop_flag;

struct get_job {
	pthread_t th;
	long ndomains, seed;
	atomic_ulong calls;
};

static void *get_main(void *arg)
{
	struct get_job *j = arg;
	virConnectPtr c = virConnectOpen(uri);
	if (!c)
		die("virConnectOpen");
	char name[64];
	snprintf(name, sizeof name, "bench-%ld", j->seed % j->ndomains);
	for (unsigned long i = 0; i < 10000000 && !atomic_load_explicit(&stop_flag, memory_order_relaxed); i++) {
		virDomainPtr d = virDomainLookupByName(c, name);
		if (!d)
			die("virDomainLookupByName");
		virDomainInfo info;
		if (virDomainGetInfo(d, &info) < 0)
			die("virDomainGetInfo");
		virDomainFree(d);
		atomic_fetch_add_explicit(&j->calls, 1, memory_order_relaxed);
	}
	virConnectClose(c);
	return NULL;
}

static void run_get(long conns, long ndomains, double warm, double secs)
{
	struct get_job *jobs = calloc((size_t)conns, sizeof *jobs);
	struct counters all = { jobs, sizeof *jobs, offsetof(struct get_job, calls), conns };
	atomic_store(&stop_flag, false);
	for (long k = 0; k < conns; k++) {
		jobs[k].ndomains = ndomains;
		jobs[k].seed = k;
		pthread_create(&jobs[k].th, NULL, get_main, &jobs[k]);
	}
	sleep_s(warm);
	unsigned long c0 = counters_sum(&all);
	double t0 = now_s(), cli0 = proc_cpu_us(getpid()), srv0 = proc_cpu_us(server_pid);
	/* the same windows as bench/xmlrpc_client's get: the median is the figure */
	double wrate[WINDOWS];
	rate_windows(secs, t0, c0, &all, wrate);
	double t1 = now_s(), cli1 = proc_cpu_us(getpid()), srv1 = proc_cpu_us(server_pid);
	unsigned long c1 = counters_sum(&all);
	atomic_store(&stop_flag, true);
	for (long k = 0; k < conns; k++)
		pthread_join(jobs[k].th, NULL);
	double calls = (double)(c1 - c0);
	if (calls < 1) {
		fprintf(stderr, "libvirt_client: no get completed\n");
		exit(1);
	}
	printf("RESULT lv_get conns=%ld domains=%ld calls=%.0f secs=%.3f rate=%.0f rate_min=%.0f rate_max=%.0f rate_all=%.0f "
	       "cli_us=%.1f srv_us=%.1f\n",
	       conns, ndomains, calls, t1 - t0, wrate[WINDOWS / 2], wrate[0], wrate[WINDOWS - 1], calls / (t1 - t0),
	       (cli1 - cli0) / calls, (srv1 - srv0) / calls);
	fflush(stdout);
	free(jobs);
}

/* ----------------------------------------------------------------- list */

static void run_list(virConnectPtr c, long count)
{
	double *lat = calloc((size_t)count, sizeof *lat);
	int n = 0;
	double cli0 = 0, srv0 = 0;
	for (long i = -1; i < count; i++) { /* i = -1: warm-up */
		if (i == 0) {
			cli0 = proc_cpu_us(getpid());
			srv0 = proc_cpu_us(server_pid);
		}
		virDomainPtr *doms = NULL;
		double t0 = now_s();
		n = virConnectListAllDomains(c, &doms, 0);
		if (n < 0)
			die("virConnectListAllDomains");
		for (int k = 0; k < n; k++)
			virDomainFree(doms[k]);
		free(doms);
		if (i >= 0)
			lat[i] = (now_s() - t0) * 1e3;
	}
	double cli1 = proc_cpu_us(getpid()), srv1 = proc_cpu_us(server_pid);
	qsort(lat, (size_t)count, sizeof *lat, cmp_double);
	printf("RESULT lv_list count=%ld domains=%d p50_ms=%.2f p95_ms=%.2f min_ms=%.2f max_ms=%.2f cli_us=%.0f srv_us=%.0f\n",
	       count, n, pct(lat, (size_t)count, 50), pct(lat, (size_t)count, 95), lat[0], lat[count - 1],
	       (cli1 - cli0) / (double)count, (srv1 - srv0) / (double)count);
	fflush(stdout);
	free(lat);
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: libvirt_client URI LIBVIRTD_PID N1 N2 WARM_S SECS LIST_COUNT\n");
		return 2;
	}
	uri = argv[1];
	server_pid = atol(argv[2]);
	long n1 = atol(argv[3]), n2 = atol(argv[4]), count = atol(argv[7]);
	double warm = atof(argv[5]), secs = atof(argv[6]);
	if (n1 < 1 || n2 < n1 || n2 > 1000000 || count < 1 || count > 1000 || warm < 0 || warm > 60 || secs <= 0 ||
	    secs > 120) {
		fprintf(stderr, "libvirt_client: bad arguments\n");
		return 2;
	}
	virConnectPtr c = virConnectOpen(uri);
	if (!c)
		die("virConnectOpen");
	print_rss("connected", 1);
	define_domains(c, 0, n1);
	print_rss("defined", n1);
	run_get(1, n1, warm, secs);
	run_get(2, n1, warm, secs);
	run_list(c, count);
	define_domains(c, n1, n2);
	print_rss("idle", n2);
	run_get(1, n2, warm, secs);
	run_list(c, count);
	print_rss("after_list", n2);
	virConnectClose(c);
	return 0;
}
