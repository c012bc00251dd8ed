// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxctl: human tables, columns aligned on the widest cell.
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t ctl_utf8_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void ctl_table_init(struct ctl_table *t, const struct ctl_table_col *cols,
		    size_t ncols)
{
	*t = (struct ctl_table){ .cols = cols, .ncols = ncols };
}

void ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	size_t i, base;

	if (t->err)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = reallocarray(t->cells, cap * t->ncols,
					sizeof(*t->cells));

		if (!c) {
			t->err = -ENOMEM;
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	base = t->nrows * t->ncols;
	for (i = 0; i < t->ncols; i++) {
		char *c = strdup(cells[i] ? cells[i] : "");

		t->cells[base + i] = c;
		if (!c) {
			while (i--)
				free(t->cells[base + i]);
			t->err = -ENOMEM;
			return;
		}
		/* One line per row: control characters are shown as '?'. */
		for (; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	t->nrows++;
}

static void print_cell(FILE *f, const char *s, size_t width,
		       enum ctl_align align, bool last)
{
	size_t w = ctl_utf8_width(s), pad = width > w ? width - w : 0;

	if (align == CTL_RIGHT)
		fprintf(f, "%*s", (int)pad, "");
	fputs(s, f);
	if (align == CTL_LEFT && !last)
		fprintf(f, "%*s", (int)pad, "");
	if (!last)
		fputs("  ", f);
}

int ctl_table_print(const struct ctl_table *t, FILE *f, bool legend)
{
	size_t *width, r, c;

	if (t->err)
		return t->err;
	width = calloc(t->ncols ? t->ncols : 1, sizeof(*width));
	if (!width)
		return -ENOMEM;
	for (c = 0; c < t->ncols; c++) {
		if (legend)
			width[c] = ctl_utf8_width(t->cols[c].title);
		for (r = 0; r < t->nrows; r++) {
			size_t w = ctl_utf8_width(t->cells[r * t->ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	if (legend) {
		for (c = 0; c < t->ncols; c++)
			print_cell(f, t->cols[c].title, width[c],
				   t->cols[c].align, c + 1 == t->ncols);
		fputc('\n', f);
	}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++)
			print_cell(f, t->cells[r * t->ncols + c], width[c],
				   t->cols[c].align, c + 1 == t->ncols);
		fputc('\n', f);
	}
	free(width);
	return 0;
}

void ctl_table_free(struct ctl_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
	t->cap = 0;
}
