/* Private to oci/'s image code (oci-dl, oci-digest, oci-store, oci-load,
 * oci-manifest, oci-unpack, oci-copy, oci-imgconfig, oci-registry,
 * oci-pull).
 *
 * libarchive, libcrypto and libcurl are never linked: their headers give
 * the types and prototypes, and oci-dl.c fills a table of pointers per
 * library with dlopen/dlsym the first time an image function needs it, so
 * that the runtime's own commands (create, start) never map them. */
#ifndef BERTH_OCI_IMAGE_INTERNAL_H
#define BERTH_OCI_IMAGE_INTERNAL_H

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "oci/oci-internal.h"

/* ---- oci-dl.c: the libraries ----------------------------------------------
 */

/* The libarchive functions berth calls, without their "archive_" prefix:
 * la->read_new() is archive_read_new(). */
#define OCI_LA_FUNCS(X)                                                        \
	X(read_new)                                                            \
	X(read_free)                                                           \
	X(read_support_filter_all)                                             \
	X(read_support_format_tar)                                             \
	X(read_support_format_raw)                                             \
	X(read_support_format_empty)                                           \
	X(read_open)                                                           \
	X(read_open_fd)                                                        \
	X(read_next_header)                                                    \
	X(read_data)                                                           \
	X(read_data_block)                                                     \
	X(read_data_skip)                                                      \
	X(error_string)                                                        \
	X(entry_pathname)                                                      \
	X(entry_filetype)                                                      \
	X(entry_perm)                                                          \
	X(entry_size)                                                          \
	X(entry_uid)                                                           \
	X(entry_gid)                                                           \
	X(entry_mtime)                                                         \
	X(entry_mtime_nsec)                                                    \
	X(entry_symlink)                                                       \
	X(entry_hardlink)                                                      \
	X(entry_rdevmajor)                                                     \
	X(entry_rdevminor)                                                     \
	X(entry_xattr_reset)                                                   \
	X(entry_xattr_next)                                                    \
	X(read_support_format_all)                                             \
	X(write_new)                                                           \
	X(write_free)                                                          \
	X(write_set_format_pax_restricted)                                     \
	X(write_set_format_raw)                                                \
	X(write_set_format_ustar)                                              \
	X(write_add_filter_gzip)                                               \
	X(write_set_filter_option)                                             \
	X(write_set_bytes_in_last_block)                                       \
	X(write_open)                                                          \
	X(write_open_fd)                                                       \
	X(write_header)                                                        \
	X(write_data)                                                          \
	X(write_close)                                                         \
	X(entry_new)                                                           \
	X(entry_free)                                                          \
	X(entry_set_pathname)                                                  \
	X(entry_set_filetype)                                                  \
	X(entry_set_perm)                                                      \
	X(entry_set_uid)                                                       \
	X(entry_set_gid)                                                       \
	X(entry_set_mtime)                                                     \
	X(entry_set_size)                                                      \
	X(entry_set_symlink)                                                   \
	X(entry_set_hardlink)                                                  \
	X(entry_xattr_add_entry)                                               \
	X(entry_unset_atime)                                                   \
	X(entry_unset_ctime)                                                   \
	X(entry_unset_birthtime)                                               \
	X(entry_set_uname)                                                     \
	X(entry_set_gname)

struct oci_la {
#define OCI_LA_FIELD(f) __typeof__(&archive_##f) f;
	OCI_LA_FUNCS(OCI_LA_FIELD)
#undef OCI_LA_FIELD
};

#define OCI_CRYPTO_FUNCS(X)                                                    \
	X(EVP_MD_CTX_new)                                                      \
	X(EVP_MD_CTX_free)                                                     \
	X(EVP_sha256)                                                          \
	X(EVP_DigestInit_ex)                                                   \
	X(EVP_DigestUpdate)                                                    \
	X(EVP_DigestFinal_ex)

struct oci_crypto {
#define OCI_CRYPTO_FIELD(f) __typeof__(&f) f;
	OCI_CRYPTO_FUNCS(OCI_CRYPTO_FIELD)
#undef OCI_CRYPTO_FIELD
};

/* The libcurl functions berth calls, without their "curl_" prefix:
 * cu->easy_init() is curl_easy_init(). */
#define OCI_CURL_FUNCS(X)                                                      \
	X(easy_init)                                                           \
	X(easy_cleanup)                                                        \
	X(easy_reset)                                                          \
	X(easy_setopt)                                                         \
	X(easy_perform)                                                        \
	X(easy_getinfo)                                                        \
	X(easy_strerror)                                                       \
	X(easy_escape)                                                         \
	X(free)                                                                \
	X(slist_append)                                                        \
	X(slist_free_all)

struct oci_curl {
#define OCI_CURL_FIELD(f) __typeof__(&curl_##f) f;
	OCI_CURL_FUNCS(OCI_CURL_FIELD)
#undef OCI_CURL_FIELD
};

/* The tables, loaded once per process. NULL with err set ("image support
 * needs libarchive (apt-get install libarchive13)") when the library or a
 * symbol is missing. */
const struct oci_la *oci_dl_archive(struct berr *err);
const struct oci_crypto *oci_dl_crypto(struct berr *err);
const struct oci_curl *oci_dl_curl(struct berr *err);

/* ---- oci-digest.c: sha256 -------------------------------------------------
 */

#define OCI_HEX_LEN 64

struct oci_sha256 {
	const struct oci_crypto *cr;
	EVP_MD_CTX *ctx;
	uint64_t bytes; /* hashed so far */
};

int oci_sha256_init(struct oci_sha256 *h, struct berr *err);
void oci_sha256_update(struct oci_sha256 *h, const void *p, size_t n);
/* Writes "sha256:<hex>" and releases the context. */
void oci_sha256_final(struct oci_sha256 *h, char out[OCI_DIGEST_LEN]);
/* Releases a context that was not finalised (no-op otherwise). */
void oci_sha256_free(struct oci_sha256 *h);
/* The digest of a buffer. */
int oci_sha256_buf(const void *p, size_t n, char out[OCI_DIGEST_LEN],
		   struct berr *err);
/* Copies fd to outfd (-1: only hash) until EOF, hashing what it reads. */
int oci_sha256_copy(int fd, int outfd, char out[OCI_DIGEST_LEN], uint64_t *size,
		    struct berr *err);
/* "sha256:" followed by 64 lowercase hex digits. */
bool oci_digest_valid(const char *d);
/* Refuses what oci_digest_valid refuses, naming the algorithm when it is
 * another one ("unsupported digest algorithm sha512"). */
int oci_digest_check(const char *d, const char *what, struct berr *err);
static inline const char *oci_digest_hex(const char *d)
{
	return d + 7;
}

/* ---- oci-manifest.c: the documents ----------------------------------------
 */

#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_DOCKER_MANIFEST                                                 \
	"application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST                                                     \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"

/* Documents are read whole, up to this size. */
#define OCI_DOC_MAX (4u << 20)

struct oci_desc {
	char *media_type; /* may be NULL in an index entry */
	char *digest;
	int64_t size;
	char *ref_name; /* from the annotations; may be NULL */
	bool has_platform;
	char *os, *arch, *variant;
};

struct oci_manifest_doc {
	char *media_type;
	bool is_index; /* an index or manifest list: see index below */
	struct oci_desc config;
	struct oci_desc *layers;
	size_t n_layers;
	struct oci_desc *manifests; /* when is_index */
	size_t n_manifests;
};

struct oci_imgcfg_doc {
	char *os, *arch, *variant, *created;
	char **diff_ids; /* NULL-terminated */
	size_t n_diff_ids;
};

struct oci_docker_entry { /* one object of a Docker archive's manifest.json */
	char *config;	  /* path inside the archive */
	char **repo_tags; /* NULL-terminated, may be NULL */
	char **layers;	  /* paths, NULL-terminated */
	size_t n_layers;
};

/* Parses an image manifest or an image index (the mediaType field, or
 * the presence of "manifests", tells which). what names the document in
 * errors ("manifest sha256:ab.."). Caller clears *out. */
int oci_manifest_parse(const char *json, size_t len, const char *what,
		       struct oci_manifest_doc *out, struct berr *err);
void oci_manifest_clear(struct oci_manifest_doc *m);
/* Parses an image config's os, architecture, created and rootfs. */
int oci_imgcfg_parse(const char *json, size_t len, const char *what,
		     struct oci_imgcfg_doc *out, struct berr *err);
void oci_imgcfg_clear(struct oci_imgcfg_doc *c);
int oci_docker_manifest_parse(const char *json, size_t len,
			      struct oci_docker_entry **out, size_t *n,
			      struct berr *err);
void oci_docker_entries_free(struct oci_docker_entry *v, size_t n);

/* How well a platform fits this host: 0 not at all (another os or
 * architecture), higher is better (2 exact variant, 1 no variant). */
int oci_platform_score(const struct oci_desc *d);
/* True for the layer media types berth unpacks (tar, gzip, zstd). */
bool oci_layer_media_type_ok(const char *mt);

/* ---- oci-unpack.c: one layer ----------------------------------------------
 */

/* Cleans a tar entry name into a relative path with no empty or "."
 * component and no trailing slash ("" for the root itself). Refuses an
 * absolute path and any ".." component: -EINVAL with *why set. Caller
 * frees *out. */
int oci_tar_clean_path(const char *name, char **out, const char **why);

/* Opens the directory dir (a clean relative path, "" for the root) under
 * rootfd, never following a symlink. create makes missing components
 * (0755). Returns an O_PATH fd, -ELOOP when a component is a symlink,
 * -ENOTDIR when one is not a directory, or -errno; *bad (may be NULL)
 * then points at the offending component in dir. */
int oci_open_dir_nofollow(int rootfd, const char *dir, bool create,
			  size_t *bad);

struct oci_unpack_opts {
	bool allow_devices;
	const char *what; /* "layer sha256:ab.." for messages */
	/* With limit set (the load's, for the message), the uncompressed
	 * stream may be at most max_bytes long (what the load has left), else
	 * -EFBIG. limit 0: no bound. */
	uint64_t max_bytes, limit;
};

/* Reads the (compressed) layer blob from fd once: unpacks it into the
 * empty directory rootfd with whiteouts in overlayfs form (rootfd -1: only
 * hash) and computes the sha256 of the uncompressed stream into diff_id and
 * its length into *size. */
int oci_unpack_layer(int fd, int rootfd, const struct oci_unpack_opts *o,
		     char diff_id[OCI_DIGEST_LEN], uint64_t *size,
		     struct berr *err);
/* pwrite() of all n bytes at off: the data blocks of a sparse file land
 * at their offsets and the holes between them stay holes. -errno. */
int oci_pwrite_all(int fd, const void *buf, size_t n, off_t off);

/* ---- oci-copy.c: layers into a plain rootfs --------------------------------
 */

/* Applies the layer directory layerfd onto the directory rootfd as
 * overlayfs would show it: whiteouts delete, opaque directories hide what
 * lower layers put there, everything else is copied with owner, mode,
 * times and xattrs. */
int oci_copy_layer(int layerfd, int rootfd, const char *what, struct berr *err);

/* ---- oci-store.c: the store's internals -----------------------------------
 */

struct oci_store {
	char *path;
	int dirfd;
	int lockfd;
	enum oci_store_mode mode;
};

/* Turns a reader into a writer (exclusive lock, leftovers removed). */
int oci_store_upgrade(struct oci_store *s, struct berr *err);
/* A fresh directory under tmp/ (its name relative to the store in *name,
 * an fd on it in *fd). */
int oci_store_mktemp(struct oci_store *s, const char *prefix, char **name,
		     int *fd, struct berr *err);
bool oci_store_has_blob(struct oci_store *s, const char *digest);
bool oci_store_has_layer(struct oci_store *s, const char *diff_id);
/* Opens blobs/sha256/<hex> for reading. */
int oci_store_open_blob(struct oci_store *s, const char *digest,
			struct berr *err);
int oci_store_read_blob(struct oci_store *s, const char *digest, char **buf,
			size_t *len, struct berr *err);

/* What a load hands to oci_store_commit(): NULL-terminated vectors, the
 * *_tmp ones store-relative names under tmp/. */
struct oci_commit {
	char **blob_tmp;	   /* verified blobs ... */
	char **blob_digest;	   /* ... and their digests */
	char **layer_tmp;	   /* verified layer directories ... */
	char **layer_diff;	   /* ... and their diffIDs */
	struct oci_image **images; /* repo_tags: the references to set */
};
/* Renames the blobs and then the layers into place, makes them durable,
 * then writes the image records and last the references: a reader sees an
 * image only once everything it needs is there. */
int oci_store_commit(struct oci_store *s, const struct oci_commit *c,
		     struct berr *err);

/* Image records (images/<hex>.json); repo_tags left empty. */
int oci_store_read_record(struct oci_store *s, const char *digest,
			  struct oci_image **out, struct berr *err);
int oci_store_records(struct oci_store *s, struct oci_image ***out,
		      struct berr *err);
int oci_store_delete_record(struct oci_store *s, const char *digest,
			    struct berr *err);

/* refs.json: reference -> manifest digest. */
struct oci_refs {
	struct oci_kv *v;
	size_t n;
};
int oci_refs_load(struct oci_store *s, struct oci_refs *r, struct berr *err);
int oci_refs_save(struct oci_store *s, const struct oci_refs *r,
		  struct berr *err);
void oci_refs_clear(struct oci_refs *r);
const char *oci_refs_get(const struct oci_refs *r, const char *ref);
void oci_refs_set(struct oci_refs *r, const char *ref, const char *digest);
bool oci_refs_del(struct oci_refs *r, const char *ref);
/* The references naming digest, as a NULL-terminated vector. */
char **oci_refs_of(const struct oci_refs *r, const char *digest);

/* ---- oci-load.c: loading a layout a pull staged -----------------------------
 */

/* oci_image_load() of the OCI layout in the store-relative directory dir
 * under tmp/ (a pull's staging area, private to the store): its files are
 * hard-linked into the load rather than copied, and hashed again all the
 * same. what names the source in messages. */
int oci_load_staged(struct oci_store *s, const char *dir, const char *what,
		    const struct oci_image_load_opts *o,
		    struct oci_image ***out, struct berr *err);
/* "64 GiB", "1.5 MiB", "512 bytes": a size limit in messages. */
void oci_size_str(uint64_t n, char *buf, size_t len);

/* ---- oci-registry.c: the distribution spec's HTTP side ----------------------
 */

/* A challenge of a WWW-Authenticate header. */
enum oci_auth_scheme { OCI_AUTH_NONE, OCI_AUTH_BASIC, OCI_AUTH_BEARER };
struct oci_wwwauth {
	enum oci_auth_scheme scheme;
	char *realm, *service, *scope; /* NULL when absent */
};
/* Parses a WWW-Authenticate value (several challenges may be joined with
 * commas) and keeps the Bearer challenge, else the Basic one; an unknown
 * scheme alone gives OCI_AUTH_NONE. -EINVAL for a malformed header or a
 * Bearer challenge without a realm. Caller clears *out either way. */
int oci_wwwauth_parse(const char *header, struct oci_wwwauth *out);
void oci_wwwauth_clear(struct oci_wwwauth *a);

/* The "auth" value (base64 of user:password) that a Docker config.json
 * holds for registry in "auths" (keys may carry a scheme and a path, and
 * docker.io has several spellings). *out is NULL when there is none. */
int oci_docker_config_auth(const char *json, size_t len, const char *registry,
			   char **out, struct berr *err);
/* The token of a token server's JSON answer ("token", else
 * "access_token"). */
int oci_registry_token_parse(const char *json, size_t len, char **out,
			     struct berr *err);
/* Whether host (host[:port], IPv6 in brackets) is a loopback name or
 * address: localhost, 127.0.0.0/8, ::1. */
bool oci_registry_host_loopback(const char *host);
/* 0 when registry is a loopback one, as --insecure needs; else -EPERM
 * with err saying so. */
int oci_registry_check_insecure(const char *registry, struct berr *err);
/* The scope to ask a token server for: "repository:<repo>:pull,push" for
 * a push, else the challenge's scope, else "repository:<repo>:pull".
 * Caller frees. */
char *oci_registry_scope(const char *repo, bool push, const char *challenge);
/* A Location header as an absolute URL: kept when it is one (http or
 * https), else a path ("/v2/...") put after base ("http://host:port").
 * -EINVAL for anything else (empty, relative, control characters).
 * Caller frees *out. */
int oci_registry_location(const char *base, const char *location, char **out);
/* Whether url is on base ("http://host:port"): the only URLs a request
 * sends credentials to. */
bool oci_registry_same_origin(const char *base, const char *url);

struct oci_registry;
/* A client for repo on the registry at endpoint (host[:port]); registry
 * names it in config.json. https, or plain http with insecure (the caller
 * checks that the registry is a loopback one; every connection is checked
 * again). Credentials come from $DOCKER_CONFIG/config.json or
 * ~/.docker/config.json and are sent only when the registry asks; push
 * asks token servers for the push scope too. */
int oci_registry_open(const char *registry, const char *endpoint,
		      const char *repo, bool insecure, bool push,
		      struct oci_registry **out, struct berr *err);
void oci_registry_close(struct oci_registry *r);
static inline void oci_registry_closep(struct oci_registry **r)
{
	oci_registry_close(*r);
}

/* Receives the body of a successful response piece by piece; a negative
 * return (err set) stops the transfer. */
typedef int (*oci_registry_sink)(const void *p, size_t n, void *arg);
/* A sink that keeps the body in memory, NUL-terminated: -EFBIG past max
 * bytes, with err naming what. The caller frees p. */
struct oci_membuf {
	char *p;
	size_t n, max;
	const char *what;
	struct berr *err;
};
int oci_membuf_sink(const void *p, size_t n, void *arg);
struct oci_registry_resp {
	long status;
	char content_type[128];
	char digest[OCI_DIGEST_LEN]; /* Docker-Content-Digest, "" if none */
	char location[2048];	     /* as sent; "" if none or longer */
};
/* A request of oci_registry_request(). */
struct oci_registry_req {
	const char *method; /* "GET", "HEAD", "POST", "PATCH", "PUT" */
	const char *path;   /* under /v2/<repo>/, unless ... */
	const char *url;    /* ... an absolute URL is given (a Location) */
	const char *accept, *content_type, *content_range; /* may be NULL */
	/* the body of a POST, PATCH or PUT: len bytes of buf, else of fd
	 * from off (read again when a 401 makes the request go again) */
	const void *buf;
	int fd;
	uint64_t off, len;
	oci_registry_sink sink; /* a 2xx answer's body; may be NULL */
	void *arg;
};
/* One request, answering a 401 with the token or the credentials it asks
 * for; a GET or a HEAD follows redirects. resp (may be NULL) gets the
 * answer's status and headers even on an error. A status other than 2xx
 * is an error naming what ("blob sha256:ab..: 404 Not Found"): -ENOENT
 * for 404, -EACCES for 401 and 403, -EIO otherwise. */
int oci_registry_request(struct oci_registry *r, const char *what,
			 const struct oci_registry_req *q,
			 struct oci_registry_resp *resp, struct berr *err);
/* GET /v2/<repo>/<path>, as oci_registry_request() ("manifest: 404 Not
 * Found (manifest unknown)"). */
int oci_registry_get(struct oci_registry *r, const char *what, const char *path,
		     const char *accept, oci_registry_sink sink, void *arg,
		     struct oci_registry_resp *resp, struct berr *err);

/* ---- oci-pull.c: references
 * ---------------------------------------------------
 */

struct oci_pull_ref {
	char *name;	/* the stored form (oci_image_ref_normalize()) */
	char *registry; /* "docker.io", "127.0.0.1:5000" */
	char *endpoint; /* where to connect: "registry-1.docker.io" */
	char *repo;	/* "library/busybox" */
	char *tag;	/* NULL when the reference has a digest */
	char *digest;	/* "sha256:..." or NULL */
};
/* Parses [registry[:port]/]repo[:tag|@sha256:...]: no registry (a first
 * component without '.' or ':' and other than localhost) means docker.io,
 * where a single name gets library/. Caller clears *out either way. */
int oci_pull_ref_parse(const char *ref, struct oci_pull_ref *out,
		       struct berr *err);
void oci_pull_ref_clear(struct oci_pull_ref *r);

/* ---- oci-push.c: the parts of an upload
 * ------------------------------------------------ */

#define OCI_PUSH_RANGE_LEN 48
/* A chunk's Content-Range: "<off>-<off+len-1>" (len > 0). */
void oci_push_content_range(uint64_t off, uint64_t len,
			    char buf[OCI_PUSH_RANGE_LEN]);
/* The closing PUT's URL: url with digest=sha256%3A<hex> added to its
 * query (url may have one: a Location often does). Caller frees. */
char *oci_push_digest_url(const char *url, const char *digest);

/* ---- oci-imgconfig.c
 * --------------------------------------------------------- */

struct oci_user_ids {
	uint32_t uid, gid;
	uint32_t *gids; /* additional groups */
	size_t n_gids;
};
/* Resolves a Docker "user[:group]" against rootfd's /etc/passwd and
 * /etc/group (rootfd -1: numeric only). */
int oci_image_resolve_user(int rootfd, const char *user,
			   struct oci_user_ids *out, struct berr *err);

#endif
