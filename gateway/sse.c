// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux-gateway: server-sent events, and the splice.
 *
 * The relay forwards a stream event by event: it frames the upstream's
 * decoded body into events (gw_sse_event_len()) and hands each to
 * gw_stream_event(), which normally appends it unchanged.  It counts the
 * tokens of each event from its token_ids (the gateway asks engines for
 * them on streams: vLLM's return_token_ids; they are removed again when
 * the client did not ask), which is what lets a stream be re-attached to
 * another upstream without repeating or losing a token (struct
 * gw_splice, in gateway.h).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

size_t gw_sse_event_len(const char *p, size_t n)
{
	size_t start = 0;

	while (start < n) {
		const char *nl = memchr(p + start, '\n', n - start);
		size_t end;

		if (!nl)
			return 0;
		end = nl - p;
		if (end == start || (end == start + 1 && p[start] == '\r'))
			return end + 1;
		start = end + 1;
	}
	return 0;
}

int gw_sse_data(const char *ev, size_t len, struct cm_buf *data)
{
	size_t start = 0;
	int found = 0;

	data->len = 0;
	while (start < len) {
		const char *nl = memchr(ev + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - ev) : len, l = end - start;
		const char *line = ev + start;

		if (l && line[l - 1] == '\r')
			l--;
		start = end + 1;
		if (l < 5 || memcmp(line, "data:", 5))
			continue; /* comments, other fields, the blank line */
		line += 5;
		l -= 5;
		if (l && *line == ' ') {
			line++;
			l--;
		}
		if ((found && cm_buf_add(data, "\n", 1)) ||
		    cm_buf_add(data, line, l))
			return -ENOMEM;
		found = 1;
	}
	return found;
}

/* ---- the splice ------------------------------------------------------- */

void gw_splice_init(struct gw_splice *s)
{
	*s = (struct gw_splice){ 0 };
}

int gw_splice_attach(struct gw_splice *s, uint64_t k, uint64_t text_off)
{
	if (!k)
		return -EINVAL;
	/* tokens delivered+1..k-1 (or text) would be lost */
	if (k > s->delivered + 1 || text_off > s->text_delivered)
		return -EPROTO;
	s->next = k;
	s->text_next = text_off;
	s->attached = true;
	return 0;
}

int gw_splice_event(struct gw_splice *s, uint64_t n, uint64_t text_len,
		    uint64_t *skip, uint64_t *skip_text)
{
	if (!s->attached)
		return -EINVAL;
	/* this event: tokens next..next+n-1, bytes text_next.. */
	*skip = s->delivered + 1 - s->next; /* next <= delivered + 1 */
	if (*skip > n)
		*skip = n;
	*skip_text = s->text_delivered - s->text_next;
	if (*skip_text > text_len)
		*skip_text = text_len;
	s->next += n;
	s->text_next += text_len;
	if (s->next - 1 > s->delivered)
		s->delivered = s->next - 1;
	if (s->text_next > s->text_delivered)
		s->text_delivered = s->text_next;
	return 0;
}

/* ---- one event of a stream -------------------------------------------- */

void gw_stream_init(struct gw_stream *st, bool strip_ids)
{
	*st = (struct gw_stream){ .strip_ids = strip_ids };
	gw_splice_init(&st->splice);
}

static int append_json(struct cm_buf *out, json_t *j)
{
	char *txt = json_dumps(j, JSON_COMPACT);
	int rc;

	if (!txt)
		return -ENOMEM;
	rc = cm_buf_printf(out, "data: %s\n\n", txt);
	free(txt);
	return rc;
}

/*
 * Cut what the client has from choice (token_ids ids, may be NULL when the
 * tokens cannot be counted, and text); *n: its tokens, then the new ones.
 * Returns 1 to drop the event (nothing new, and it does not finish).
 */
static int splice_choice(struct gw_stream *st, json_t *choice, json_t *ids,
			 uint64_t *n, bool *modified)
{
	json_t *text = json_object_get(choice, "text");
	json_t *fin = json_object_get(choice, "finish_reason");
	uint64_t skip, skip_text, tlen = 0;
	int rc;

	if (text && !json_is_string(text))
		return -EPROTO;
	if (text)
		tlen = json_string_length(text);
	rc = gw_splice_event(&st->splice, *n, tlen, &skip, &skip_text);
	if (rc)
		return rc;
	if (!skip && !skip_text)
		return 0;
	*n -= skip;
	if (!*n && skip_text == tlen && (!fin || json_is_null(fin)))
		return 1; /* all repeated: drop it */
	if (skip_text) {
		/* a byte offset of the same text: a character boundary */
		json_t *cut = json_stringn(json_string_value(text) + skip_text,
					   tlen - skip_text);

		if (!cut || json_object_set_new(choice, "text", cut))
			return -EPROTO;
	}
	for (uint64_t i = 0; ids && i < skip; i++)
		json_array_remove(ids, 0);
	*modified = true;
	return 0;
}

int gw_stream_event(struct gw_stream *st, const char *ev, size_t len,
		    struct cm_buf *out, uint64_t *ntok)
{
	struct cm_buf data = { 0 };
	json_t *root = NULL, *choices, *choice = NULL, *ids = NULL, *id;
	bool modified = false;
	uint64_t n = 0;
	int rc;

	*ntok = 0;
	rc = gw_sse_data(ev, len, &data);
	if (rc < 0)
		goto out;
	if (!rc)
		goto verbatim;
	if (!strcmp(data.p, "[DONE]")) {
		st->done = true;
		goto verbatim;
	}
	root = json_loadb(data.p, data.len, 0, NULL);
	if (!json_is_object(root))
		goto verbatim; /* not ours to judge */
	if (json_object_get(root, "error")) {
		st->errored = true;
		goto verbatim;
	}
	choices = json_object_get(root, "choices");
	if (json_is_array(choices) && json_array_size(choices))
		choice = json_array_get(choices, 0);
	if (json_is_object(choice))
		ids = json_object_get(choice, "token_ids");
	if (!json_is_array(ids))
		ids = NULL;
	if (ids) {
		st->countable = true;
		n = json_array_size(ids);
	} else if (json_is_object(choice) && st->countable) {
		/* an upstream without token ids after one with them */
		rc = -EPROTO;
		goto out;
	}
	if (json_is_object(choice) && st->splice.attached) {
		rc = splice_choice(st, choice, ids, &n, &modified);
		if (rc > 0) {
			rc = 0;
			goto out; /* the client has all of it */
		}
		if (rc)
			goto out;
	}
	id = json_object_get(root, "id");
	if (json_is_string(id)) {
		if (!st->cmpl_id[0]) {
			snprintf(st->cmpl_id, sizeof(st->cmpl_id), "%s",
				 json_string_value(id));
		} else if (strcmp(st->cmpl_id, json_string_value(id))) {
			if (json_object_set_new(root, "id",
						json_string(st->cmpl_id))) {
				rc = -ENOMEM;
				goto out;
			}
			modified = true;
		}
	}
	if (ids && st->strip_ids) {
		json_object_del(choice, "token_ids");
		modified = true;
	}
	if (choice)
		st->events++;
	st->tokens += n;
	*ntok = n;
	if (modified) {
		rc = append_json(out, root);
		goto out;
	}
verbatim:
	rc = cm_buf_add(out, ev, len);
out:
	json_decref(root);
	cm_buf_free(&data);
	return rc;
}
