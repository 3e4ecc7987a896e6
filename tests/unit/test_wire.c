/* The wire escapers and number writers (rpc/wire.c): the sixteen-bytes-at-a-
 * time scan must give exactly what the byte-by-byte one gives, wherever the
 * special bytes fall. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../rpc/wire.h"
#include "../../util/buf.h"

/* Tokens: plain ASCII, every special of either format, tab/LF/CR, controls,
 * whole UTF-8 characters and lone invalid bytes.  Each is shorter than
 * sixteen bytes, so escaping token by token takes the byte-by-byte path. */
static const char *const tokens[] = {
	"a", "Z", "0", " ", "-", ":", "<", ">", "&", "\"", "\\", "'", "\t", "\n", "\r", "\x01", "\x1f",
	"\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3", "\xed\xa0\x80", "\xef\xbf\xbe",
};

static void escapers_agree_wherever_specials_fall(void **state)
{
	void (*const esc[])(struct buf *, const char *, size_t) = { wire_escape_xml, wire_escape_json };
	unsigned seed = 12345;
	for (int round = 0; round < 4000; round++) {
		struct buf whole = BUF_INIT, pieces = BUF_INIT, text = BUF_INIT;
		unsigned ntok = (unsigned)(rand_r(&seed) % 80);
		unsigned plain_bias = (unsigned)(rand_r(&seed) % 8); /* long plain runs too */
		size_t starts[128];
		for (unsigned i = 0; i < ntok; i++) {
			unsigned k = (unsigned)(rand_r(&seed) % (sizeof(tokens) / sizeof(*tokens)));
			if ((unsigned)(rand_r(&seed) % 8) < plain_bias)
				k = 0;
			starts[i] = text.len;
			buf_adds(&text, tokens[k]);
		}
		starts[ntok] = text.len;
		for (unsigned e = 0; e < 2; e++) {
			buf_reset(&whole);
			buf_reset(&pieces);
			esc[e](&whole, text.data ? text.data : "", text.len);
			for (unsigned i = 0; i < ntok; i++)
				esc[e](&pieces, text.data + starts[i], starts[i + 1] - starts[i]);
			wire_finish(&whole);
			wire_finish(&pieces);
			assert_int_equal(whole.len, pieces.len);
			assert_memory_equal(whole.data, pieces.data, whole.len);
		}
		buf_free(&whole);
		buf_free(&pieces);
		buf_free(&text);
	}
}

static const char *dbl(double f)
{
	static struct buf b;
	buf_reset(&b);
	wire_put_double(&b, f);
	wire_finish(&b);
	return b.data;
}

/* Whole numbers take a short cut that must print what %.16g prints. */
static void doubles_print_as_printf_does(void **state)
{
	const double samples[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 4294967296.0, 1e15, 9007199254740991.0,
				   9007199254740992.0, 1e16, 1e300, -123456789.0, 0.1, 2.5e-7 };
	for (size_t i = 0; i < sizeof(samples) / sizeof(*samples); i++) {
		char want[40];
		snprintf(want, sizeof(want), "%.16g", samples[i]);
		assert_string_equal(dbl(samples[i]), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapers_agree_wherever_specials_fall),
		cmocka_unit_test(doubles_print_as_printf_does),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
