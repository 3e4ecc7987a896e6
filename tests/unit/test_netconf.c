/* netconf: every key of the SDK guide's network settings table, with
 * values it accepts and values it refuses, and the error a refusal gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../engine/netconf.h"

static void accepts(const char *key, const char *value)
{
	struct xc_error err = XC_ERROR_INIT;
	if (netconf_check(key, value, &err) != 0)
		fail_msg("%s=%s refused with %s", key, value, xc_error_wire_code(&err));
	assert_false(xc_error_isset(&err));
}

/* Refused with ETHTOOL_SETTING_INVALID [key, value, valid]. */
static void refuses(const char *key, const char *value, const char *valid)
{
	struct xc_error err = XC_ERROR_INIT;
	if (netconf_check(key, value, &err) != -1)
		fail_msg("%s=%s accepted", key, value);
	assert_string_equal(xc_error_wire_code(&err), "ETHTOOL_SETTING_INVALID");
	unsigned n;
	char *const *p = xc_error_wire_params(&err, &n);
	assert_int_equal(n, 3);
	assert_string_equal(p[0], key);
	assert_string_equal(p[1], value);
	assert_string_equal(p[2], valid);
	xc_error_clear(&err);
}

static const char *const bool_keys[] = { "ethtool-rx", "ethtool-tx",  "ethtool-sg",      "ethtool-tso",
					 "ethtool-ufo", "ethtool-gso", "ethtool-autoneg", "promiscuous",
					 "ethtool-gro", "ethtool-lro" };

static void on_off_keys_take_on_true_off_false(void **state)
{
	static const char *const good[] = { "on", "true", "off", "false" };
	static const char *const bad[] = { "", "yes", "no", "1", "0", "ON", "True", "enable", " on", "on " };
	for (size_t k = 0; k < sizeof(bool_keys) / sizeof(bool_keys[0]); k++) {
		assert_true(netconf_is_setting(bool_keys[k]));
		assert_string_equal(netconf_valid_text(bool_keys[k]), "on, true, off, false");
		for (size_t i = 0; i < 4; i++)
			accepts(bool_keys[k], good[i]);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			refuses(bool_keys[k], bad[i], "on, true, off, false");
	}
	assert_true(netconf_bool("on"));
	assert_true(netconf_bool("true"));
	assert_false(netconf_bool("off"));
	assert_false(netconf_bool("false"));
	assert_false(netconf_bool(NULL));
}

static void speed_is_10_100_or_1000(void **state)
{
	accepts("ethtool-speed", "10");
	accepts("ethtool-speed", "100");
	accepts("ethtool-speed", "1000");
	static const char *const bad[] = { "", "0", "1", "10000", "100M", "fast", "-10", "010", " 100" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses("ethtool-speed", bad[i], "10, 100, 1000");
}

static void duplex_is_half_or_full(void **state)
{
	accepts("ethtool-duplex", "half");
	accepts("ethtool-duplex", "full");
	static const char *const bad[] = { "", "Half", "FULL", "auto", "on", "1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses("ethtool-duplex", bad[i], "half, full");
}

static void mtu_is_68_to_65535(void **state)
{
	static const char *const good[] = { "68", "576", "1500", "9000", "65535" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		accepts("mtu", good[i]);
	static const char *const bad[] = { "", "67", "0", "65536", "-1500", "1500.0", "+1500", "jumbo", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses("mtu", bad[i], "68-65535");
}

static void static_routes_are_subnet_netmask_gateway_triples(void **state)
{
	static const char *const good[] = {
		"",
		"172.16.0.0/24/192.168.1.1",
		"172.16.0.0/255.255.255.0/192.168.1.1",
		"10.0.0.0/8/192.168.1.254,172.16.0.0/255.240.0.0/192.168.1.253",
		"0.0.0.0/0/10.0.0.1",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		accepts("static-routes", good[i]);
	const char *valid = "<subnet>/<netmask>/<gateway>[,...]";
	static const char *const bad[] = {
		"172.16.0.0/24",                      /* no gateway */
		"172.16.0.0/33/192.168.1.1",          /* prefix too long */
		"172.16.0.0/255.0.255.0/192.168.1.1", /* holes in the mask */
		"172.16.0/24/192.168.1.1",            /* short subnet */
		"172.16.0.0/24/gateway",
		"172.16.0.0/24/192.168.1.1/extra",
		"172.16.0.0/24/192.168.1.1,",         /* trailing comma */
		"172.16.0.0/24/192.168.1.1,,10.0.0.0/8/10.0.0.1",
		"fe80::/64/fe80::1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses("static-routes", bad[i], valid);
}

static void other_keys_are_free_form(void **state)
{
	static const char *const keys[] = { "domain", "peerdns", "bond-miimon", "ethtool-fancy", "mtu-ish", "" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_false(netconf_is_setting(keys[i]));
		assert_null(netconf_valid_text(keys[i]));
		accepts(keys[i], "anything at all");
		accepts(keys[i], "");
	}
}

static void maps_are_checked_member_by_member(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	assert_int_equal(netconf_check_map(NULL, &err), 0);
	struct value *m = value_new_struct(4);
	assert_int_equal(netconf_check_map(m, &err), 0);
	value_struct_add(m, "ethtool-tx", value_new_string("on"));
	value_struct_add(m, "mtu", value_new_string("9000"));
	value_struct_add(m, "note", value_new_string("whatever"));
	assert_int_equal(netconf_check_map(m, &err), 0);
	value_struct_add(m, "ethtool-duplex", value_new_string("quarter"));
	assert_int_equal(netconf_check_map(m, &err), -1);
	unsigned n;
	char *const *p = xc_error_wire_params(&err, &n);
	assert_string_equal(xc_error_wire_code(&err), "ETHTOOL_SETTING_INVALID");
	assert_string_equal(p[0], "ethtool-duplex");
	assert_string_equal(p[1], "quarter");
	xc_error_clear(&err);
	value_unref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(on_off_keys_take_on_true_off_false),
		cmocka_unit_test(speed_is_10_100_or_1000),
		cmocka_unit_test(duplex_is_half_or_full),
		cmocka_unit_test(mtu_is_68_to_65535),
		cmocka_unit_test(static_routes_are_subnet_netmask_gateway_triples),
		cmocka_unit_test(other_keys_are_free_form),
		cmocka_unit_test(maps_are_checked_member_by_member),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
