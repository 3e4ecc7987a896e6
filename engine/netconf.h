/* The other-config settings of network interfaces (VIFs and PIFs), as the
 * SDK guide's "ethtool and other network settings" table has them:
 *
 *   ethtool-rx, -tx, -sg, -tso, -ufo, -gso, -autoneg   on | true | off | false
 *   ethtool-speed                                      10 | 100 | 1000
 *   ethtool-duplex                                     half | full
 *   mtu                                                68 .. 65535
 *   promiscuous                                        on | true | off | false
 *   static-routes   <subnet>/<netmask>/<gateway>[,...] (netmask dotted or a
 *                   prefix length 0..32)
 *
 * plus ethtool-gro and ethtool-lro, which the hypervisor backends know too.
 * Keys outside the table are free-form and always accepted.  A bad value of
 * a known key is ETHTOOL_SETTING_INVALID [key, value, valid settings]. */
#ifndef XCON_NETCONF_H
#define XCON_NETCONF_H

#include <stdbool.h>

#include "../util/error.h"
#include "../util/value.h"

/* True if the key is one of the table's (its value is checked and it is
 * passed to the backend when the device is plugged). */
bool netconf_is_setting(const char *key);
/* The "valid settings" text of a known key, NULL for a free-form one. */
const char *netconf_valid_text(const char *key);
/* Checks one key's value: 0, or -1 with ETHTOOL_SETTING_INVALID. */
int netconf_check(const char *key, const char *value, struct xc_error *err);
/* Checks every member of an other_config map (a struct value); NULL and
 * the empty map are fine. */
int netconf_check_map(const struct value *map, struct xc_error *err);
/* "on"/"true" -> true, anything else false (for a checked boolean value). */
bool netconf_bool(const char *value);

#endif
