/* Fixed-size errors: see base.h. */
#include <string.h>

#include "base/base.h"

static int vset(struct berr *e, int code, bool with_cause, const char *fmt,
		va_list ap)
{
	if (code <= 0)
		code = EIO;
	if (!e)
		return -code;
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (with_cause) {
		size_t n = strlen(e->msg);
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s",
			 strerror(code));
	}
	return -code;
}

int berr_set(struct berr *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vset(e, code, true, fmt, ap);
	va_end(ap);
	return r;
}

int berr_setx(struct berr *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vset(e, code, false, fmt, ap);
	va_end(ap);
	return r;
}

int berr_wrap(struct berr *e, const char *fmt, ...)
{
	if (!e || e->code <= 0)
		return -EIO;
	char prefix[BERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	char old[BERR_MSG_MAX];
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
	return -e->code;
}

void berr_clear(struct berr *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}
