/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumuxctl: the pure parts (no D-Bus, no global state), unit-tested by
 * daemon/ctl/test-ctl.c.
 *
 *   mask.c   CU masks: "0-15,32-47" <-> little-endian bitmaps (D-Bus "ay")
 *   args.c   numbers, byte sizes, TENANT arguments, object paths
 *   json.c   a small JSON writer with full string escaping
 *   table.c  human tables with aligned columns
 *
 * Functions return 0 or a negative errno; they never exit.
 */
#ifndef GPUMUXCTL_CTL_H
#define GPUMUXCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define CTL_MAX_CUS 1024 /* GPUMUX_MAX_CUS: CUs per GPU */
#define CTL_MASK_BYTES (CTL_MAX_CUS / 8)

/* --- mask.c --- */

/*
 * Parses a CU list: "none", or comma-separated CUs and ranges "A-B" (A <= B),
 * decimal, every CU < CTL_MAX_CUS, no spaces.  Overlaps are allowed.  Fills
 * mask[CTL_MASK_BYTES] and sets *len to the bytes that matter (0 for
 * "none": trailing zero bytes are dropped).  -EINVAL on bad syntax, -ERANGE
 * for a CU out of range.
 */
int ctl_mask_parse(const char *s, uint8_t *mask, size_t *len);

/* CUs set in a bitmap of len bytes. */
unsigned int ctl_mask_count(const uint8_t *mask, size_t len);

/*
 * Formats a bitmap as "0-15,32-47" ("none" when no bit is set) into buf.
 * Returns the length of the full string (as snprintf); the output is cut
 * (always NUL-terminated when size > 0) if it is >= size.
 */
size_t ctl_mask_format(const uint8_t *mask, size_t len, char *buf, size_t size);

/* The same, into a malloc'ed string (NULL when out of memory). */
char *ctl_mask_to_string(const uint8_t *mask, size_t len);

/* --- args.c --- */

/* Strict decimal: digits only, no sign, no spaces; -ERANGE on overflow. */
int ctl_parse_u32(const char *s, uint32_t *out);
int ctl_parse_u64(const char *s, uint64_t *out);

/*
 * A byte size: decimal digits then an optional binary suffix K, M, G, T, P
 * or E (either case, times 1024^n), optionally followed by "B" or "iB"
 * ("4G", "512KiB", "1024").  -EINVAL on bad syntax, -ERANGE if it does not
 * fit in 64 bits ("16E").
 */
int ctl_parse_bytes(const char *s, uint64_t *out);

/* "192G", "1.5G", "512K", "100": at most one decimal, binary units. */
void ctl_format_bytes(uint64_t v, char *buf, size_t size);

/* A D-Bus object path: "/" or "/" elements of [A-Za-z0-9_]+ joined by "/". */
bool ctl_object_path_valid(const char *s);

enum ctl_tenant_kind {
	CTL_TENANT_INVALID = 0,
	CTL_TENANT_ID, /* decimal, > 0, fits in 32 bits: *id is set */
	CTL_TENANT_PATH, /* starts with '/', a valid object path */
	CTL_TENANT_NAME, /* anything else printable, 1..CTL_NAME_MAX */
};

#define CTL_NAME_MAX 31 /* GM_NAME_MAX */

/* What a TENANT argument is: an id, an object path or a name. */
enum ctl_tenant_kind ctl_tenant_classify(const char *s, uint32_t *id);

/*
 * The number after prefix "/" in path (e.g. 5 for prefix
 * "/org/gpumux/Scheduler1/tenant" and ".../tenant/5"), or 0.
 */
uint32_t ctl_path_id(const char *path, const char *prefix);

/* Exit statuses of gpumuxctl. */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1, /* the daemon returned an error */
	CTL_EXIT_USAGE = 2, /* bad command line */
	CTL_EXIT_UNREACHABLE = 3, /* the daemon is not running or reachable */
	CTL_EXIT_DENIED = 4, /* access denied */
};

/*
 * The exit status for a failed call: name is the D-Bus error name (NULL or
 * "System.Error.*" for a local failure, then err, a positive errno, is
 * used).  Never CTL_EXIT_OK or CTL_EXIT_USAGE.
 */
int ctl_error_exit(const char *name, int err);

/* The part of an error name after its last '.': "NoSuchTenant". */
const char *ctl_error_short(const char *name);

/* --- json.c --- */

#define CTL_JSON_DEPTH 32

/*
 * A streaming JSON writer: commas and key/value order are tracked, output
 * is compact (one line).  Errors (misuse, nesting too deep) are sticky in
 * err and nothing more is written after one.
 */
struct ctl_json {
	FILE *f;
	int depth;
	bool need_comma[CTL_JSON_DEPTH];
	bool in_object[CTL_JSON_DEPTH];
	bool after_key;
	int err;
};

void ctl_json_init(struct ctl_json *j, FILE *f);
void ctl_json_begin_object(struct ctl_json *j);
void ctl_json_end_object(struct ctl_json *j);
void ctl_json_begin_array(struct ctl_json *j);
void ctl_json_end_array(struct ctl_json *j);
void ctl_json_key(struct ctl_json *j, const char *key);
void ctl_json_string(struct ctl_json *j, const char *s);
void ctl_json_u64(struct ctl_json *j, uint64_t v);
void ctl_json_i64(struct ctl_json *j, int64_t v);
void ctl_json_double(struct ctl_json *j, double v);
void ctl_json_bool(struct ctl_json *j, bool v);
void ctl_json_null(struct ctl_json *j);
/* Ends the document: checks it is complete, writes a newline. */
int ctl_json_finish(struct ctl_json *j);

/*
 * Writes s as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \b \f \n \r \t or \u00XX, DEL as \u007f, and bytes that
 * are not valid UTF-8 as \ufffd (one per bad byte).
 */
void ctl_json_escape(FILE *f, const char *s);

/* --- table.c --- */

enum ctl_align { CTL_LEFT, CTL_RIGHT };

struct ctl_table_col {
	const char *title;
	enum ctl_align align;
};

struct ctl_table {
	const struct ctl_table_col *cols;
	size_t ncols;
	char **cells; /* nrows * ncols, row-major */
	size_t nrows;
	size_t cap;
	int err;
};

void ctl_table_init(struct ctl_table *t, const struct ctl_table_col *cols,
		    size_t ncols);
/*
 * Adds one row of ncols cells (copied, control characters replaced by '?');
 * errors are sticky in t->err.
 */
void ctl_table_add(struct ctl_table *t, const char *const *cells);
/*
 * Prints the header (unless !legend) and the rows, columns separated by two
 * spaces, padded to the widest cell (counted in UTF-8 characters), the
 * last column not padded when left-aligned.
 */
int ctl_table_print(const struct ctl_table *t, FILE *f, bool legend);
void ctl_table_free(struct ctl_table *t);

/* Display width of a UTF-8 string, in characters. */
size_t ctl_utf8_width(const char *s);

#endif /* GPUMUXCTL_CTL_H */
