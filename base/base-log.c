/* The --log file: text lines or runc's JSON lines. containerd shows users
 * the msg of the last level=error line, so errors are written whole. */
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

struct logger {
	int fd;
	bool json;
	bool debug;
	bool to_file;
};

static struct logger g_log = {.fd = 2};

int blog_open(const char *path, bool json, bool debug)
{
	g_log.json = json;
	g_log.debug = debug;
	if (!path || !*path)
		return 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	g_log.fd = fd;
	g_log.to_file = true;
	return 0;
}

int blog_vacate_fd(int fd)
{
	if (!g_log.to_file || g_log.fd != fd)
		return 0;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
	if (nfd < 0)
		return -errno;
	close(fd);
	g_log.fd = nfd;
	return 0;
}

void blog_close(void)
{
	if (g_log.to_file)
		close(g_log.fd);
	g_log.fd = 2;
	g_log.to_file = false;
}

bool blog_enabled(enum blog_level lvl)
{
	return lvl != BLOG_DEBUG || g_log.debug;
}

bool blog_to_file(void)
{
	return g_log.to_file;
}

static const char *level_name(enum blog_level lvl)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	return names[lvl];
}

/* JSON string escaping for the message; the rest of the line is fixed. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

void blog(enum blog_level lvl, const char *fmt, ...)
{
	if (!blog_enabled(lvl))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char line[2600];
	int n;
	if (g_log.json) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		char when[64], esc[2200];
		base_rfc3339(&ts, when, sizeof(when));
		json_escape(esc, sizeof(esc), msg);
		n = snprintf(
			line, sizeof(line),
			"{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%s\"}\n",
			level_name(lvl), esc, when);
	} else if (g_log.to_file) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		char when[64];
		base_rfc3339(&ts, when, sizeof(when));
		n = snprintf(line, sizeof(line),
			     "time=\"%s\" level=%s msg=\"%s\"\n", when,
			     level_name(lvl), msg);
	} else {
		n = snprintf(line, sizeof(line), "berth: %s%s\n",
			     lvl == BLOG_ERROR ? "" : level_name(lvl),
			     lvl == BLOG_ERROR ? msg : "");
		if (lvl != BLOG_ERROR)
			n = snprintf(line, sizeof(line), "berth: %s: %s\n",
				     level_name(lvl), msg);
	}
	if (n > (int)sizeof(line))
		n = sizeof(line);
	(void)base_write_all(g_log.fd, line, (size_t)n);
}

/* The proleptic Gregorian date of a day count from 1970-01-01 (Howard
 * Hinnant's civil_from_days). Not gmtime_r: glibc's reads /etc/localtime
 * on first use, and maps its time zone code, for a UTC time. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void base_rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	int64_t secs = ts->tv_sec;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400, year;
	unsigned mon, mday;
	civil_from_days(days, &year, &mon, &mday);
	char date[48];
	snprintf(date, sizeof(date), "%04lld-%02u-%02uT%02u:%02u:%02u",
		 (long long)year, mon, mday, (unsigned)(rem / 3600),
		 (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
	char frac[16] = "";
	if (ts->tv_nsec) {
		/* Go trims trailing zeros of the fraction */
		snprintf(frac, sizeof(frac), ".%09ld", ts->tv_nsec);
		size_t n = strlen(frac);
		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	snprintf(buf, len, "%s%sZ", date, frac);
}
