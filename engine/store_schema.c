/* The database schema, derived from the datamodel, and its migrations.
 *
 * One table per class with records, named as the class, one column per
 * stored field plus "_ref".  A field added to a .def file becomes a column on
 * the next start (ALTER TABLE ADD COLUMN with the field's default), so adding
 * a field is one line.  Changes that need more than that (a renamed field, a
 * value rewritten) are numbered steps in `migrations`, run in order inside one
 * transaction and recorded in PRAGMA user_version. */
#include "store_priv.h"

#include <stdio.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/strmap.h"
#include "../util/xalloc.h"

#define LOG_MODULE "store"

/* Schema version 1 is the datamodel's own tables.  Later steps go here, e.g.
 * { 2, "UPDATE \"VM\" SET ..." }; never edit a step that has shipped. */
static const struct {
	int version;
	const char *sql;
} migrations[] = {
	{ 1, "CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)" },
};

static int exec(sqlite3 *db, const char *sql, struct xc_error *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		xc_error_internal(err, "database schema: %s (%s)", msg ? msg : sqlite3_errstr(rc), sql);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* The SQL literal of a field's default, for ADD COLUMN. */
static void default_literal(struct buf *b, const struct dm_field *f)
{
	struct value *v = dm_field_default(f);
	switch (f->type->kind) {
	case DM_INT:
		buf_add_i64(b, v->u.i);
		break;
	case DM_DATETIME:
		buf_add_i64(b, v->u.t);
		break;
	case DM_BOOL:
		buf_adds(b, v->u.b ? "1" : "0");
		break;
	case DM_FLOAT:
		buf_printf(b, "%.17g", v->u.f);
		break;
	default: {
		XC_AUTOFREE char *text = (f->type->kind == DM_SET || f->type->kind == DM_MAP)
						 ? store_encode_container(f->type, v)
						 : xstrdup(value_str(v) ? value_str(v) : "");
		char *q = sqlite3_mprintf("%Q", text);
		buf_adds(b, q);
		sqlite3_free(q);
	}
	}
	value_unref(v);
}

static int existing_columns(sqlite3 *db, const char *table, struct strmap *cols, struct xc_error *err)
{
	char *sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", table);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return store_sqlite_error(db, rc, err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strmap_put(cols, (const char *)sqlite3_column_text(st, 1), (void *)1);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_sqlite_error(db, rc, err);
}

static int apply_class(sqlite3 *db, const struct dm_class *c, struct xc_error *err)
{
	struct buf b = BUF_INIT;
	int rc = 0;
	struct strmap cols = STRMAP_INIT;
	if (existing_columns(db, c->name, &cols, err) < 0) {
		rc = -1;
		goto cleanup;
	}
	if (cols.used == 0) {
		buf_printf(&b, "CREATE TABLE \"%s\" (_ref TEXT NOT NULL UNIQUE", c->name);
		for (unsigned i = 0; i < c->nfields; i++) {
			const struct dm_field *f = &c->fields[i];
			if (f->col < 0)
				continue;
			buf_printf(&b, ", \"%s\" %s NOT NULL DEFAULT ", f->name, store_sql_type(f->type));
			default_literal(&b, f);
		}
		buf_adds(&b, ")");
		if (exec(db, b.data, err) < 0) {
			rc = -1;
			goto cleanup;
		}
	} else {
		for (unsigned i = 0; i < c->nfields; i++) {
			const struct dm_field *f = &c->fields[i];
			if (f->col < 0 || strmap_has(&cols, f->name))
				continue;
			buf_reset(&b);
			buf_printf(&b, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s NOT NULL DEFAULT ", c->name,
				   f->name, store_sql_type(f->type));
			default_literal(&b, f);
			log_info("schema: adding column %s.%s", c->name, f->name);
			if (exec(db, b.data, err) < 0) {
				rc = -1;
				goto cleanup;
			}
		}
	}
	/* Lookups by uuid, by name and by every forward reference (the reverse
	 * sets are queries on these). */
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct dm_field *f = &c->fields[i];
		if (f->col < 0)
			continue;
		bool uuid = f == c->f_uuid;
		if (!uuid && f != c->f_name_label && f->type->kind != DM_REF)
			continue;
		buf_reset(&b);
		buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS \"%s__%s\" ON \"%s\"(\"%s\")",
			   uuid ? "UNIQUE " : "", c->name, f->name, c->name, f->name);
		if (exec(db, b.data, err) < 0) {
			rc = -1;
			goto cleanup;
		}
	}
cleanup:
	strmap_clear(&cols, NULL);
	buf_free(&b);
	return rc;
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	return v;
}

int store_schema_apply(sqlite3 *db, struct xc_error *err)
{
	if (exec(db, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	int have = user_version(db);
	int latest = migrations[ARRAY_SIZE(migrations) - 1].version;
	if (have > latest) {
		xc_error_internal(err, "database schema version %d is newer than this xcon (%d)", have, latest);
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(migrations); i++) {
		if (migrations[i].version <= have)
			continue;
		if (exec(db, migrations[i].sql, err) < 0)
			goto fail;
	}
	for (unsigned i = 0; i < dm_class_count(); i++) {
		const struct dm_class *c = dm_class_at(i);
		if (!(c->flags & DM_C_NO_RECORDS) && apply_class(db, c, err) < 0)
			goto fail;
	}
	if (have != latest) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", latest);
		if (exec(db, sql, err) < 0)
			goto fail;
	}
	return exec(db, "COMMIT", err);
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
