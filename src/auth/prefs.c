/*
 * prefs: the per-user preferences file (see prefs.h). The same text-lines shape as the
 * users and tokens files, read with the same record reader.
 */
#define LOG_TAG "prefs"

#include "auth/prefs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define PREFS_FILE_MAX (1024 * 1024)

static bool lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool alnum(char c)
{
	return lower(c) || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool ipkvm_language_valid(const char *code)
{
	if (!code)
		return false;
	size_t len = strlen(code);
	if (len > IPKVM_LANGUAGE_MAX)
		return false;
	size_t n = 0;
	while (lower(code[n]))
		n++;
	if (n < 2 || n > 3)
		return false;
	const char *p = code + n;
	while (*p) {
		if (*p++ != '-')
			return false;
		size_t k = 0;
		while (alnum(p[k]))
			k++;
		if (k < 1 || k > 8)
			return false;
		p += k;
	}
	return true;
}

void ipkvm_prefs_init(struct ipkvm_prefs *p)
{
	p->v = NULL;
	p->n = p->cap = 0;
}

void ipkvm_prefs_free(struct ipkvm_prefs *p)
{
	free(p->v);
	ipkvm_prefs_init(p);
}

static struct ipkvm_pref *find(const struct ipkvm_prefs *p, const char *user)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].user, user) == 0)
			return &p->v[i];
	return NULL;
}

/* Appends an entry for a user that has none. */
static int append(struct ipkvm_prefs *p, const char *user, const char *language)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct ipkvm_pref *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	struct ipkvm_pref *e = &p->v[p->n++];
	memset(e, 0, sizeof(*e));
	ipkvm_strlcpy(e->user, user, sizeof(e->user));
	ipkvm_strlcpy(e->language, language, sizeof(e->language));
	return 0;
}

static int load_line(void *ctx, char *line, char *msg, size_t msglen)
{
	struct ipkvm_prefs *np = ctx;
	char *colon = strchr(line, ':');
	if (!colon || strchr(colon + 1, ':')) {
		snprintf(msg, msglen, "expected name:language");
		return -EINVAL;
	}
	*colon = '\0';
	const char *user = line, *language = colon + 1;
	if (!ipkvm_user_name_valid(user)) {
		snprintf(msg, msglen, "invalid user name");
		return -EINVAL;
	}
	if (!ipkvm_language_valid(language)) {
		snprintf(msg, msglen, "invalid language (expected a tag such as ja or pt-BR)");
		return -EINVAL;
	}
	if (find(np, user)) {
		snprintf(msg, msglen, "duplicate user '%s'", user);
		return -EINVAL;
	}
	return append(np, user, language);
}

/* p ends up holding exactly what was loaded (nothing on error). */
static int load_result(struct ipkvm_prefs *p, struct ipkvm_prefs *np, int r)
{
	ipkvm_prefs_free(p);
	if (r == 0)
		*p = *np;
	else
		ipkvm_prefs_free(np);
	return r;
}

int ipkvm_prefs_load(struct ipkvm_prefs *p, const char *path, char *err, size_t errlen)
{
	struct ipkvm_prefs np;
	ipkvm_prefs_init(&np);
	int r = ipkvm_read_records(path, PREFS_FILE_MAX, load_line, &np, err, errlen);
	return load_result(p, &np, r);
}

int ipkvm_prefs_parse(struct ipkvm_prefs *p, char *text, size_t len, const char *name, char *err,
		      size_t errlen)
{
	struct ipkvm_prefs np;
	ipkvm_prefs_init(&np);
	int r = ipkvm_parse_records(text, len, name, load_line, &np, err, errlen);
	return load_result(p, &np, r);
}

int ipkvm_prefs_save(const struct ipkvm_prefs *p, const char *path)
{
	size_t cap = p->n * (IPKVM_USER_NAME_MAX + IPKVM_LANGUAGE_MAX + 2) + 1;
	char *buf = malloc(cap);
	size_t o = 0;
	int r = 0;
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		const struct ipkvm_pref *x = &p->v[i];
		/* Refuse to write what we could not read back. */
		if (!ipkvm_user_name_valid(x->user) || !ipkvm_language_valid(x->language)) {
			LOG_ERROR("refusing to save an invalid preference of user '%s'", x->user);
			r = -EINVAL;
			goto out;
		}
		int n = snprintf(buf + o, cap - o, "%s:%s\n", x->user, x->language);
		if (n < 0 || (size_t)n >= cap - o) {
			r = -EOVERFLOW;
			goto out;
		}
		o += (size_t)n;
	}
	/* Every writer of path holds the users lock, so a temp file of path seen now was left
	 * by a killed writer. */
	ipkvm_remove_atomic_leftovers(path);
	r = ipkvm_write_file_atomic(path, buf, o, 0600);
	if (r < 0)
		LOG_ERROR("cannot write %s: %s", path, strerror(-r));
out:
	free(buf);
	return r;
}

const char *ipkvm_prefs_language(const struct ipkvm_prefs *p, const char *user)
{
	const struct ipkvm_pref *e = find(p, user);
	return e ? e->language : NULL;
}

int ipkvm_prefs_set_language(struct ipkvm_prefs *p, const char *user, const char *language)
{
	if (!ipkvm_user_name_valid(user) || (language && !ipkvm_language_valid(language)))
		return -EINVAL;
	struct ipkvm_pref *e = find(p, user);
	if (!language) {
		ipkvm_prefs_del_user(p, user);
		return 0;
	}
	if (e) {
		ipkvm_strlcpy(e->language, language, sizeof(e->language));
		return 0;
	}
	return append(p, user, language);
}

bool ipkvm_prefs_del_user(struct ipkvm_prefs *p, const char *user)
{
	struct ipkvm_pref *e = find(p, user);
	if (!e)
		return false;
	size_t i = (size_t)(e - p->v);
	memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof(*p->v));
	p->n--;
	return true;
}

int ipkvm_prefs_drop_user(const char *path, const char *user, char *err, size_t errlen)
{
	struct ipkvm_prefs p;
	ipkvm_prefs_init(&p);
	int r = ipkvm_prefs_load(&p, path, err, errlen);
	if (r == -ENOENT) {
		r = 0;
	} else if (r == 0 && ipkvm_prefs_del_user(&p, user)) {
		r = ipkvm_prefs_save(&p, path);
		if (r < 0)
			ipkvm_errf(err, errlen, "cannot write %s: %s", path, strerror(-r));
	}
	ipkvm_prefs_free(&p);
	return r;
}
