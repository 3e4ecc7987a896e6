/* Password checks through PAM, the host's own account database. */
#ifndef XCON_AUTH_PAM_H
#define XCON_AUTH_PAM_H

#include <stdbool.h>

/* True when user/password pass the service's auth and account stacks.
 * On failure *why (caller frees) holds PAM's reason, never the password. */
bool auth_pam_check(const char *service, const char *user, const char *password, char **why);

#endif
