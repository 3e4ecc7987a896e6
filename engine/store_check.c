/* SQLite's own consistency check, for bug reports (engine/bugreport.c).  A
 * file of its own so the SQL stays behind the store's interface without
 * touching the store's busier files. */
#include "store_priv.h"

#include "../util/buf.h"

char *store_integrity_check(struct store_txn *t, struct xc_error *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(t->c->db, "PRAGMA integrity_check", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_error(t->c->db, rc, err);
		return NULL;
	}
	struct buf b = BUF_INIT;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *line = sqlite3_column_text(st, 0);
		buf_printf(&b, "%s\n", line ? (const char *)line : "");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		buf_free(&b);
		store_sqlite_error(t->c->db, rc, err);
		return NULL;
	}
	return buf_steal(&b, NULL);
}
