/* The distribution spec's HTTP side: one libcurl easy handle per pull or
 * push, requests (GET, HEAD, and a push's POST, PATCH and PUT with their
 * bodies) that answer a registry's 401 with an anonymous (or
 * credentialed) Bearer token or with Basic credentials, and the parsers
 * for what a registry and the user's config.json say.
 *
 * Everything a registry sends is untrusted: headers are parsed by hand
 * with bounded copies, tokens and credentials are checked for characters
 * that could end a header line before they go into one, and with
 * --insecure every connection (redirects and token servers included) must
 * reach a loopback address before a request is sent on it. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>

#include "oci/oci-image-internal.h"

#define TOKEN_MAX 16384
#define ERRBODY_MAX 1024
#define HEADERS_MAX 4

/* ---- WWW-Authenticate
 * ---------------------------------------------------------- */

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar(p[n]))
		n++;
	return n;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or a quoted-string at *p, unescaped; NULL when neither. */
static char *param_value(const char **p)
{
	const char *q = *p;
	if (*q != '"') {
		size_t n = token_len(q);
		*p = q + n;
		return n ? strndup(q, n) : NULL;
	}
	char *v = base_calloc(strlen(q), 1);
	size_t n = 0;
	for (q++; *q && *q != '"'; q++) {
		if (*q == '\\' && q[1])
			q++;
		v[n++] = *q;
	}
	if (*q != '"') {
		free(v);
		return NULL;
	}
	*p = q + 1;
	return v;
}

static void set_param(struct oci_wwwauth *a, const char *name, size_t n,
		      char *value)
{
	static const char *const keys[] = {"realm", "service", "scope"};
	char **slots[] = {&a->realm, &a->service, &a->scope};
	for (size_t i = 0; a && i < ARRAY_SIZE(keys); i++)
		if (strlen(keys[i]) == n && !strncasecmp(name, keys[i], n) &&
		    !*slots[i]) {
			*slots[i] = value;
			return;
		}
	free(value);
}

/* After a challenge's scheme: its auth-params, or a token68, up to the
 * next challenge (whose scheme *p then points at). */
static int parse_params(const char **p, struct oci_wwwauth *keep)
{
	for (;;) {
		const char *q = skip_ws(*p);
		while (*q == ',' || *q == ' ' || *q == '\t')
			q++;
		size_t n = token_len(q);
		const char *eq = skip_ws(q + n);
		if (!*q || (n && *eq != '=')) {
			*p = q; /* the end, or the next challenge's scheme */
			return 0;
		}
		if (!n)
			return -EINVAL;
		const char *v = skip_ws(eq + 1);
		if (*v == '=' || *v == ',' || !*v) { /* a token68 "abc==" */
			while (*v == '=')
				v++;
			*p = v;
			continue;
		}
		char *value = param_value(&v);
		if (!value)
			return -EINVAL;
		set_param(keep, q, n, value);
		*p = v;
		q = skip_ws(v);
		if (*q && *q != ',')
			return -EINVAL;
	}
}

void oci_wwwauth_clear(struct oci_wwwauth *a)
{
	free(a->realm);
	free(a->service);
	free(a->scope);
	*a = (struct oci_wwwauth){0};
}

int oci_wwwauth_parse(const char *header, struct oci_wwwauth *out)
{
	*out = (struct oci_wwwauth){0};
	struct oci_wwwauth basic = {0};
	const char *p = header;
	int r = 0;
	for (;;) {
		p = skip_ws(p);
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		size_t n = token_len(p);
		if (!*p || !n) {
			r = *p ? -EINVAL : 0;
			break;
		}
		bool bearer = n == 6 && !strncasecmp(p, "Bearer", 6);
		bool is_basic = n == 5 && !strncasecmp(p, "Basic", 5);
		struct oci_wwwauth *keep = NULL;
		if (bearer && out->scheme == OCI_AUTH_NONE)
			keep = out;
		else if (is_basic && basic.scheme == OCI_AUTH_NONE)
			keep = &basic;
		if (keep)
			keep->scheme =
				bearer ? OCI_AUTH_BEARER : OCI_AUTH_BASIC;
		p += n;
		if ((r = parse_params(&p, keep)) < 0)
			break;
	}
	if (r == 0 && out->scheme == OCI_AUTH_NONE) {
		*out = basic;
		basic = (struct oci_wwwauth){0};
	}
	oci_wwwauth_clear(&basic);
	if (r == 0 && out->scheme == OCI_AUTH_BEARER && !out->realm)
		r = -EINVAL;
	return r;
}

/* ---- config.json, tokens, hosts
 * ----------------------------------------------------- */

static bool is_docker_hub(const char *host, size_t n)
{
	static const char *const names[] = {"docker.io", "index.docker.io",
					    "registry-1.docker.io",
					    "registry.hub.docker.com"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == n && !strncasecmp(host, names[i], n))
			return true;
	return false;
}

/* "https://index.docker.io/v1/", "127.0.0.1:5000", "http://h:1/x" */
static bool auth_key_matches(const char *key, const char *registry)
{
	if (base_str_has_prefix(key, "https://"))
		key += 8;
	else if (base_str_has_prefix(key, "http://"))
		key += 7;
	size_t n = strcspn(key, "/");
	if (!strcmp(registry, "docker.io"))
		return is_docker_hub(key, n);
	return n == strlen(registry) && !strncasecmp(key, registry, n);
}

static bool is_base64(const char *s)
{
	size_t n =
		strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789+/");
	return n > 0 && strspn(s + n, "=") == strlen(s + n);
}

int oci_docker_config_auth(const char *json, size_t len, const char *registry,
			   char **out, struct berr *err)
{
	*out = NULL;
	struct oj j;
	oj_init(&j, err, "docker config.json", true, NULL);
	_cleanup_json_ cJSON *root = NULL;
	int r = oj_parse_doc(&j, json, len, &root);
	if (r < 0)
		return r;
	const cJSON *auths = oj_get(root, "auths");
	if (!cJSON_IsObject(auths))
		return 0;
	for (const cJSON *e = auths->child; e; e = e->next) {
		const cJSON *a = cJSON_IsObject(e) ? oj_get(e, "auth") : NULL;
		if (!e->string || !auth_key_matches(e->string, registry) ||
		    !cJSON_IsString(a) || !a->valuestring[0])
			continue;
		if (!is_base64(a->valuestring) || strlen(a->valuestring) > 4096)
			return berr_setx(err, EINVAL,
					 "docker config.json: auths[\"%.100s\"]"
					 ".auth: not base64",
					 e->string);
		*out = base_strdup(a->valuestring);
		return 0;
	}
	return 0;
}

/* What a token may hold to go into a header: visible ASCII, no space. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

int oci_registry_token_parse(const char *json, size_t len, char **out,
			     struct berr *err)
{
	*out = NULL;
	struct oj j;
	oj_init(&j, err, "token", true, NULL);
	_cleanup_json_ cJSON *root = NULL;
	int r = oj_parse_doc(&j, json, len, &root);
	if (r < 0)
		return r;
	_cleanup_free_ char *tok = NULL;
	if ((r = oj_str(&j, root, "token", &tok)) < 0)
		return r;
	if ((!tok || !tok[0]) &&
	    (r = oj_str(&j, root, "access_token", &tok)) < 0)
		return r;
	if (!tok || !tok[0])
		return berr_setx(err, EINVAL, "token: the answer has none");
	if (strlen(tok) > TOKEN_MAX || !header_safe(tok))
		return berr_setx(err, EINVAL, "token: not a bearer token");
	*out = TAKE_PTR(tok);
	return 0;
}

bool oci_registry_host_loopback(const char *host)
{
	_cleanup_free_ char *h = NULL;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		if (!end)
			return false;
		h = strndup(host + 1, (size_t)(end - host - 1));
	} else {
		const char *colon = strchr(host, ':');
		/* two colons: a bare IPv6 address, no port */
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		h = colon ? strndup(host, (size_t)(colon - host))
			  : base_strdup(host);
	}
	if (!h)
		return false;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return !strcasecmp(h, "localhost");
}

int oci_registry_check_insecure(const char *registry, struct berr *err)
{
	if (oci_registry_host_loopback(registry))
		return 0;
	return berr_setx(err, EPERM,
			 "--insecure: %s is not a loopback registry (plain "
			 "http goes only to 127.0.0.0/8, ::1 and localhost)",
			 registry);
}

char *oci_registry_scope(const char *repo, bool push, const char *challenge)
{
	/* a push asks for what it needs whatever the first challenge
	 * named: a HEAD is answered with a pull scope */
	if (push)
		return base_sprintf("repository:%s:pull,push", repo);
	return challenge ? base_strdup(challenge)
			 : base_sprintf("repository:%s:pull", repo);
}

bool oci_registry_same_origin(const char *base, const char *url)
{
	size_t n = strlen(base);
	return !strncmp(url, base, n) &&
	       (url[n] == '/' || url[n] == '?' || url[n] == '\0');
}

int oci_registry_location(const char *base, const char *location, char **out)
{
	*out = NULL;
	if (!location[0] || !header_safe(location))
		return -EINVAL;
	if (base_str_has_prefix(location, "https://") ||
	    base_str_has_prefix(location, "http://"))
		*out = base_strdup(location);
	else if (location[0] == '/' && location[1] != '/')
		*out = base_sprintf("%s%s", base, location);
	else
		return -EINVAL;
	return 0;
}

/* ---- the client
 * -------------------------------------------------------------------- */

struct oci_registry {
	const struct oci_curl *cu;
	CURL *h;
	struct curl_slist *hdrs;
	char *base; /* "https://host:port" */
	char *registry, *repo;
	char *config; /* the config.json credentials come from */
	char *basic;  /* its auth for registry, sent once a registry asks */
	char *bearer; /* the token, once fetched */
	bool use_basic;
	bool insecure;
	bool push;	     /* tokens with the push scope */
	char refused_ip[64]; /* a non-loopback peer --insecure refused */
	char errbuf[CURL_ERROR_SIZE];
	/* the response being read */
	long status;
	char reason[64];
	char *www_auth;
	struct oci_registry_resp resp;
	char errbody[ERRBODY_MAX + 1];
	size_t n_errbody;
	const struct oci_registry_req *req;
	uint64_t sent; /* of req's body, in this attempt */
	int sink_r;
};

/* The user's credentials for r->registry, if any. */
static int load_credentials(struct oci_registry *r, struct berr *err)
{
	const char *dir = getenv("DOCKER_CONFIG");
	const char *home = getenv("HOME");
	_cleanup_free_ char *path =
		dir && dir[0]	  ? base_sprintf("%s/config.json", dir)
		: home && home[0] ? base_sprintf("%s/.docker/config.json", home)
				  : NULL;
	if (!path)
		return 0;
	r->config = base_strdup(path);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int rr = base_read_file_at(AT_FDCWD, path, &buf, &len, 1 << 20);
	if (rr == -ENOENT)
		return 0;
	if (rr < 0)
		return berr_set(err, -rr, "read %s", path);
	if ((rr = oci_docker_config_auth(buf, len, r->registry, &r->basic,
					 err)) < 0)
		return berr_wrap(err, "%s", path);
	return 0;
}

int oci_registry_open(const char *registry, const char *endpoint,
		      const char *repo, bool insecure, bool push,
		      struct oci_registry **out, struct berr *err)
{
	*out = NULL;
	const struct oci_curl *cu = oci_dl_curl(err);
	if (!cu)
		return -ENOENT;
	struct oci_registry *r = base_calloc(1, sizeof(*r));
	r->cu = cu;
	r->base =
		base_sprintf("%s://%s", insecure ? "http" : "https", endpoint);
	r->registry = base_strdup(registry);
	r->repo = base_strdup(repo);
	r->insecure = insecure;
	r->push = push;
	int rr = load_credentials(r, err);
	if (rr == 0 && !(r->h = cu->easy_init()))
		rr = berr_setx(err, ENOMEM, "libcurl: cannot start a session");
	if (rr < 0) {
		oci_registry_close(r);
		return rr;
	}
	*out = r;
	return 0;
}

void oci_registry_close(struct oci_registry *r)
{
	if (!r)
		return;
	if (r->h)
		r->cu->easy_cleanup(r->h);
	if (r->hdrs)
		r->cu->slist_free_all(r->hdrs);
	free(r->base);
	free(r->registry);
	free(r->repo);
	free(r->config);
	free(r->basic);
	free(r->bearer);
	free(r->www_auth);
	free(r);
}

/* ---- one request
 * ------------------------------------------------------------------- */

static void reset_response(struct oci_registry *r)
{
	r->status = 0;
	r->reason[0] = '\0';
	free(r->www_auth);
	r->www_auth = NULL;
	r->resp = (struct oci_registry_resp){0};
	r->n_errbody = 0;
	r->errbody[0] = '\0';
}

/* "Name: value" into its value when name matches, else NULL. */
static const char *header_value(const char *line, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) || line[n] != ':')
		return NULL;
	return skip_ws(line + n + 1);
}

static void on_status_line(struct oci_registry *r, const char *line)
{
	reset_response(r);
	const char *sp = strchr(line, ' ');
	if (!sp)
		return;
	r->status = strtol(sp + 1, NULL, 10);
	const char *reason = strchr(sp + 1, ' ');
	if (reason)
		snprintf(r->reason, sizeof(r->reason), "%s", reason + 1);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct oci_registry *r = arg;
	size_t len = size * nmemb;
	char line[2048];
	size_t n = len < sizeof(line) ? len : sizeof(line) - 1;
	memcpy(line, p, n);
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	line[n] = '\0';
	const char *v;
	if (!strncmp(line, "HTTP/", 5)) {
		on_status_line(r, line);
	} else if ((v = header_value(line, "WWW-Authenticate"))) {
		if (r->www_auth && strlen(r->www_auth) > 8192)
			return len; /* enough challenges to choose from */
		char *joined = r->www_auth
				       ? base_sprintf("%s, %s", r->www_auth, v)
				       : base_strdup(v);
		free(r->www_auth);
		r->www_auth = joined;
	} else if ((v = header_value(line, "Content-Type"))) {
		snprintf(r->resp.content_type, sizeof(r->resp.content_type),
			 "%.*s", (int)strcspn(v, "; "), v);
	} else if ((v = header_value(line, "Docker-Content-Digest"))) {
		if (oci_digest_valid(v))
			snprintf(r->resp.digest, sizeof(r->resp.digest), "%s",
				 v);
	} else if ((v = header_value(line, "Location"))) {
		/* cut short is no URL: left empty, the caller refuses it */
		size_t lv = strlen(v);
		if (lv < sizeof(r->resp.location))
			memcpy(r->resp.location, v, lv + 1);
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct oci_registry *r = arg;
	size_t len = size * nmemb;
	if (r->status / 100 != 2) {
		/* an error's JSON, or a redirect's text: kept for a message */
		size_t n = ERRBODY_MAX - r->n_errbody;
		n = len < n ? len : n;
		memcpy(r->errbody + r->n_errbody, p, n);
		r->n_errbody += n;
		r->errbody[r->n_errbody] = '\0';
		return len;
	}
	if (!r->req->sink)
		return len;
	r->sink_r = r->req->sink(p, len, r->req->arg);
	return r->sink_r < 0 ? 0 : len; /* a short count stops curl */
}

/* The request's body: from its buffer, else pread from its fd. */
static size_t on_read(char *p, size_t size, size_t nmemb, void *arg)
{
	struct oci_registry *r = arg;
	const struct oci_registry_req *q = r->req;
	uint64_t left = q->len - r->sent;
	size_t n = size * nmemb < left ? size * nmemb : (size_t)left;
	if (q->buf) {
		memcpy(p, (const char *)q->buf + r->sent, n);
	} else if (n > 0) {
		ssize_t got = pread(q->fd, p, n, (off_t)(q->off + r->sent));
		if (got <= 0) /* a blob shorter than its size: stop */
			return CURL_READFUNC_ABORT;
		n = (size_t)got;
	}
	r->sent += n;
	return n;
}

static int on_prereq(void *arg, char *ip, char *local_ip, int port,
		     int local_port)
{
	struct oci_registry *r = arg;
	if (oci_registry_host_loopback(ip))
		return CURL_PREREQFUNC_OK;
	snprintf(r->refused_ip, sizeof(r->refused_ip), "%s", ip);
	return CURL_PREREQFUNC_ABORT;
}

/* stop at the first option libcurl refuses */
#define SET(opt, val)                                                          \
	if (c == CURLE_OK)                                                     \
	c = cu->easy_setopt(h, opt, val)

/* The method, and the body of a POST, PATCH or PUT. Only a GET or a HEAD
 * follows redirects: an upload's Location is the next request's URL. */
static CURLcode set_method(struct oci_registry *r, const char *method)
{
	const struct oci_curl *cu = r->cu;
	CURL *h = r->h;
	CURLcode c = CURLE_OK;
	bool get = !strcmp(method, "GET"), head = !strcmp(method, "HEAD");
	SET(CURLOPT_FOLLOWLOCATION, get || head ? 1L : 0L);
	if (head) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (!get) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_CUSTOMREQUEST, method);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->req->len);
		SET(CURLOPT_READFUNCTION, on_read);
		SET(CURLOPT_READDATA, r);
	}
	return c;
}

static int set_options(struct oci_registry *r, const char *url)
{
	const struct oci_curl *cu = r->cu;
	CURL *h = r->h;
	const char *protos = r->insecure ? "http,https" : "https";
	CURLcode c = set_method(r, r->req->method);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_HTTPHEADER, r->hdrs);
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
	SET(CURLOPT_MAXREDIRS, 8L);
	SET(CURLOPT_USERAGENT, "berth");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer, not a slow one, is an error */
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, 60L);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	if (r->insecure) {
		/* a proxy would be the peer the loopback check sees */
		SET(CURLOPT_NOPROXY, "*");
		SET(CURLOPT_PREREQFUNCTION, on_prereq);
		SET(CURLOPT_PREREQDATA, r);
	}
	return c;
}
#undef SET

/* The headers of the next request: Accept, what authenticates it, and
 * what its body is. */
static void set_headers(struct oci_registry *r, const char *auth)
{
	const struct oci_registry_req *q = r->req;
	if (r->hdrs)
		r->cu->slist_free_all(r->hdrs);
	r->hdrs = NULL;
	static const char *const names[HEADERS_MAX] = {
		"Accept", "Authorization", "Content-Type", "Content-Range"};
	const char *values[HEADERS_MAX] = {q->accept, auth, q->content_type,
					   q->content_range};
	for (size_t i = 0; i < HEADERS_MAX; i++) {
		if (!values[i])
			continue;
		_cleanup_free_ char *line =
			base_sprintf("%s: %s", names[i], values[i]);
		struct curl_slist *l = r->cu->slist_append(r->hdrs, line);
		if (!l)
			abort(); /* out of memory, as base_* treat it */
		r->hdrs = l;
	}
}

/* One request q to url; r->status and the response fields tell how it
 * went. */
static int perform(struct oci_registry *r, const struct oci_registry_req *q,
		   const char *url, const char *auth, struct berr *err)
{
	const struct oci_curl *cu = r->cu;
	cu->easy_reset(r->h);
	reset_response(r);
	r->req = q;
	r->sent = 0;
	set_headers(r, auth);
	r->sink_r = 0;
	r->errbuf[0] = r->refused_ip[0] = '\0';
	CURLcode c = set_options(r, url);
	if (c != CURLE_OK)
		return berr_setx(err, ENOTSUP, "libcurl %s",
				 cu->easy_strerror(c));
	c = cu->easy_perform(r->h);
	if (r->sink_r < 0)
		return r->sink_r;
	if (r->refused_ip[0])
		return berr_setx(err, EPERM,
				 "%s %s: %s is not a loopback address "
				 "(--insecure allows plain http to a loopback "
				 "registry only)",
				 q->method, url, r->refused_ip);
	if (c == CURLE_OK)
		return 0;
	/* the usual answer of a plain-http registry to a TLS handshake */
	bool plain = c == CURLE_SSL_CONNECT_ERROR && !r->insecure;
	return berr_setx(err, EIO, "%s %s: %s%s%s%s%s", q->method, url,
			 cu->easy_strerror(c), r->errbuf[0] ? " (" : "",
			 r->errbuf, r->errbuf[0] ? ")" : "",
			 plain ? "; a plain-http registry needs --insecure, "
				 "and only a loopback one is allowed"
			       : "");
}

/* ---- authentication and GET
 * -------------------------------------------------------- */

int oci_membuf_sink(const void *p, size_t n, void *arg)
{
	struct oci_membuf *m = arg;
	if (n > m->max - m->n)
		return berr_setx(m->err, EFBIG, "%s: larger than %zu bytes",
				 m->what, m->max);
	m->p = base_realloc(m->p, m->n + n + 1, 1);
	memcpy(m->p + m->n, p, n);
	m->n += n;
	m->p[m->n] = '\0';
	return 0;
}

static const char *reason_phrase(long status)
{
	static const struct {
		long status;
		const char *reason;
	} tab[] = {
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{429, "Too Many Requests"},
		{500, "Internal Server Error"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
		if (tab[i].status == status)
			return tab[i].reason;
	return "";
}

/* Printable ASCII only: what a registry says goes into a terminal. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~')
			*s = '?';
}

/* The message of a registry's {"errors": [{"message": ...}]}. */
static char *registry_message(const char *body, size_t len)
{
	_cleanup_json_ cJSON *root =
		len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *errs = root ? oj_get(root, "errors") : NULL;
	const cJSON *first = cJSON_IsArray(errs) ? errs->child : NULL;
	const cJSON *m =
		cJSON_IsObject(first) ? oj_get(first, "message") : NULL;
	if (!cJSON_IsString(m) || !m->valuestring[0])
		return NULL;
	char *s = base_sprintf("%.160s", m->valuestring);
	sanitize(s);
	return s;
}

static int status_error(struct oci_registry *r, const char *what,
			struct berr *err)
{
	sanitize(r->reason);
	const char *reason =
		r->reason[0] ? r->reason : reason_phrase(r->status);
	_cleanup_free_ char *msg = registry_message(r->errbody, r->n_errbody);
	int code = r->status == 404			  ? ENOENT
		   : r->status == 401 || r->status == 403 ? EACCES
							  : EIO;
	return berr_setx(err, code, "%s: %ld%s%s%s%s%s", what, r->status,
			 reason[0] ? " " : "", reason, msg ? " (" : "",
			 msg ? msg : "", msg ? ")" : "");
}

/* GETs a token from the challenge's realm, with the user's credentials
 * when there are some. */
static int fetch_token(struct oci_registry *r, const struct oci_wwwauth *a,
		       struct berr *err)
{
	_cleanup_free_ char *want =
		oci_registry_scope(r->repo, r->push, a->scope);
	char *service =
		a->service ? r->cu->easy_escape(r->h, a->service, 0) : NULL;
	char *scope = r->cu->easy_escape(r->h, want, 0);
	_cleanup_free_ char *url = base_sprintf(
		"%s%sscope=%s%s%s", a->realm, strchr(a->realm, '?') ? "&" : "?",
		scope ? scope : "", service ? "&service=" : "",
		service ? service : "");
	r->cu->free(service);
	r->cu->free(scope);
	_cleanup_free_ char *basic =
		r->basic ? base_sprintf("Basic %s", r->basic) : NULL;
	struct oci_membuf m = {.max = 1 << 20, .what = "token", .err = err};
	const struct oci_registry_req q = {.method = "GET",
					   .accept = "application/json",
					   .sink = oci_membuf_sink,
					   .arg = &m};
	/* the request being answered is the caller's: keep it */
	const struct oci_registry_req *outer = r->req;
	int rr = perform(r, &q, url, basic, err);
	r->req = outer;
	_cleanup_free_ char *what = base_sprintf("token from %s", a->realm);
	if (rr == 0 && r->status / 100 != 2)
		rr = status_error(r, what, err);
	if (rr == 0) {
		free(r->bearer);
		r->bearer = NULL;
		rr = oci_registry_token_parse(m.p, m.n, &r->bearer, err);
	}
	free(m.p);
	return rr < 0 ? berr_wrap(err, "%s", r->registry) : 0;
}

static int authenticate(struct oci_registry *r, const char *what,
			struct berr *err)
{
	_cleanup_(oci_wwwauth_clear) struct oci_wwwauth a = {0};
	if (!r->www_auth || oci_wwwauth_parse(r->www_auth, &a) < 0 ||
	    a.scheme == OCI_AUTH_NONE)
		return berr_setx(err, EACCES,
				 "%s: 401 Unauthorized, without a challenge "
				 "berth can answer",
				 what);
	if (a.scheme == OCI_AUTH_BEARER)
		return fetch_token(r, &a, err);
	if (!r->basic)
		return berr_setx(err, EACCES,
				 "%s: 401 Unauthorized: %s wants a login, and "
				 "%s has none for it",
				 what, r->registry,
				 r->config ? r->config : "no config.json");
	r->use_basic = true;
	return 0;
}

/* An upload's Location as the absolute URL to go on with; "" when it
 * is none or does not fit. */
static void absolute_location(struct oci_registry *r)
{
	char *loc = r->resp.location;
	_cleanup_free_ char *abs = NULL;
	if (loc[0] && oci_registry_location(r->base, loc, &abs) == 0 &&
	    strlen(abs) < sizeof(r->resp.location))
		memcpy(loc, abs, strlen(abs) + 1);
	else
		loc[0] = '\0';
}

int oci_registry_request(struct oci_registry *r, const char *what,
			 const struct oci_registry_req *q,
			 struct oci_registry_resp *resp, struct berr *err)
{
	_cleanup_free_ char *url =
		q->url ? base_strdup(q->url)
		       : base_sprintf("%s/v2/%s/%s", r->base, r->repo, q->path);
	/* credentials go to the registry alone, not to wherever its
	 * Location sends an upload (a storage service) */
	bool own = oci_registry_same_origin(r->base, url);
	for (int round = 0;; round++) {
		_cleanup_free_ char *auth =
			!own	       ? NULL
			: r->bearer    ? base_sprintf("Bearer %s", r->bearer)
			: r->use_basic ? base_sprintf("Basic %s", r->basic)
				       : NULL;
		int rr = perform(r, q, url, auth, err);
		if (rr < 0)
			return rr;
		if (r->status != 401 || round > 0 || !own)
			break;
		if ((rr = authenticate(r, what, err)) < 0)
			return rr;
	}
	r->resp.status = r->status;
	absolute_location(r);
	if (resp)
		*resp = r->resp;
	if (r->status / 100 != 2)
		return status_error(r, what, err);
	return 0;
}

int oci_registry_get(struct oci_registry *r, const char *what, const char *path,
		     const char *accept, oci_registry_sink sink, void *arg,
		     struct oci_registry_resp *resp, struct berr *err)
{
	const struct oci_registry_req q = {.method = "GET",
					   .path = path,
					   .accept = accept,
					   .sink = sink,
					   .arg = arg};
	return oci_registry_request(r, what, &q, resp, err);
}
