/* util/spawn: exit statuses, captured stderr, signals, cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <time.h>

#include "../../util/spawn.h"
#include "../../util/xalloc.h"

static void test_status_and_stderr(void **state)
{
	XC_AUTOERROR err = XC_ERROR_INIT;
	XC_AUTOFREE char *text = NULL;
	const char *const argv[] = { "sh", "-c", "echo out; echo oops >&2; exit 3", NULL };
	assert_int_equal(spawn_run(argv, NULL, NULL, &text, &err), 3);
	assert_string_equal(text, "oops\n"); /* stdout goes to /dev/null */
}

/* The caller's blocked signals are not the child's: a SIGTERM ends it. */
static void test_clean_signal_mask(void **state)
{
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, &old);
	XC_AUTOERROR err = XC_ERROR_INIT;
	XC_AUTOFREE char *text = NULL;
	const char *const argv[] = { "sh", "-c", "kill -TERM $$; exit 0", NULL };
	assert_int_equal(spawn_run(argv, NULL, NULL, &text, &err), -1);
	assert_non_null(strstr(err.params[0], "died of signal 15"));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void test_missing_program(void **state)
{
	XC_AUTOERROR err = XC_ERROR_INIT;
	XC_AUTOFREE char *text = NULL;
	const char *const argv[] = { "xcon-no-such-program", NULL };
	assert_int_equal(spawn_run(argv, NULL, NULL, &text, &err), -1);
	assert_int_equal(err.code, XC_ERR_INTERNAL_ERROR);
	assert_non_null(strstr(err.params[0], "cannot run xcon-no-such-program"));
}

static bool always(void *cookie)
{
	return true;
}

static void test_cancel_stops_it(void **state)
{
	XC_AUTOERROR err = XC_ERROR_INIT;
	XC_AUTOFREE char *text = NULL;
	const char *const argv[] = { "sleep", "30", NULL };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(spawn_run(argv, always, NULL, &text, &err), SPAWN_CANCELLED);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	assert_int_equal(err.code, XC_ERR_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_and_stderr),
		cmocka_unit_test(test_clean_signal_mask),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_cancel_stops_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
