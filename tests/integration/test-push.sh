# Pushing to a registry: `berth push` to Debian's docker-registry on
# 127.0.0.1 (see test-pull.sh), then pulled back by berth (and by docker
# when a private dockerd can be had). No traffic leaves the machine.

# start_registry, push_mini, remote_digest, docker_config, bp, bi, mkimg,
# busybox_desc; la (berth launch)
source "$IT_LIB_DIR/test-pull.sh"
source "$IT_LIB_DIR/test-launch.sh"
# docker_setup, dk (its teardown runs from the cleanup: sourced here)
source "$IT_LIB_DIR/docker.sh"

# bpush ARGS...: `berth push` from the test's own store.
bpush() {
	"$BERTH" push --store "$TDIR/store" "$@"
}

# mini_image TAG: the busybox image, loaded into the store as TAG.
mini_image() {
	mkimg docker "$TDIR/img.tar" "$(busybox_desc "$1" '["echo", "pushed and pulled"]')"
	assert_ok bi load "$TDIR/img.tar"
}

# reqs METHOD PATH-PART: how many such requests the registry logged.
reqs() {
	sleep 0.2 # the access log may lag the response a little
	grep -c "\"$1 /v2/$2" "$TDIR/registry.log"
}

# local_field IMAGE FIELD [STORE]: .id or .digest of an image of a store.
local_field() {
	"$BERTH" image --store "${3:-$TDIR/store}" inspect "$1" | jq -r ".$2"
}

t_push_and_pull_back() {
	local digest id size
	launch_only
	start_registry
	mini_image mini:1
	assert_ok bpush --insecure mini:1 "$REG/mini:1"
	digest=$(local_field mini:1 digest)
	id=$(local_field mini:1 id)
	size=$(stat -c %s "$TDIR/store/blobs/sha256/${digest#sha256:}")
	assert_eq "$(sed -n 1p <<<"$OUT")" "The push refers to repository [$REG/mini]"
	assert_eq "$(grep -c ': Pushed$' <<<"$OUT")" 2 "blobs pushed (config, layer)"
	assert_eq "$(last_line "$OUT")" "1: digest: $digest size: $size"
	assert_eq "$ERR" "" "stderr when it is not a terminal"
	assert_eq "$(remote_digest mini:1)" "$digest" "the registry serves the stored manifest"
	# pulled back into another store: the same image, and it runs
	assert_ok "$BERTH" pull --store "$TDIR/store2" --insecure "$REG/mini:1"
	assert_eq "$(local_field "$REG/mini:1" id "$TDIR/store2")" "$id" "image id pulled back"
	assert_ok "$BERTH" --root "$ROOT" launch --store "$TDIR/store2" --rm \
		--cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" "$REG/mini:1"
	assert_eq "$OUT" "pushed and pulled"
	# again: the registry has every blob, only the manifest goes up
	local posts
	posts=$(reqs POST mini/blobs/uploads/)
	assert_eq "$posts" 2 "uploads of the first push"
	assert_ok bpush --insecure mini:1 "$REG/mini:1"
	assert_eq "$(grep -c ': Layer already exists$' <<<"$OUT")" 2 "blobs skipped"
	assert_eq "$(grep -c ': Pushed$' <<<"$OUT")" 0 "blobs pushed again"
	assert_eq "$(reqs POST mini/blobs/uploads/)" 2 "uploads after the second push"
	# one argument: the image's own name; -q prints only the reference
	assert_ok bi tag mini:1 "$REG/mini:2"
	assert_ok "$BERTH" image push --store "$TDIR/store" -q --insecure "$REG/mini:2"
	assert_eq "$OUT" "$REG/mini:2"
	assert_eq "$(remote_digest mini:2)" "$digest"
	assert_store_consistent
}

t_push_large_blob_in_chunks() {
	local id
	start_registry
	mkimg docker "$TDIR/big.tar" '{"tags": ["big:1"], "layers": [
		{"entries": [{"path": "big", "random": 20000000}]}]}'
	assert_ok bi load "$TDIR/big.tar"
	# on a terminal (script(1) gives one), a bar while the chunks go
	run script -qec "$BERTH push --store $TDIR/store --insecure big:1 $REG/big:1" /dev/null
	assert_eq "$RC" 0 "push on a terminal ($(last_line "$OUT"))"
	assert_match "$OUT" '[0-9a-f]{12}: Pushing \[=+ *\] 16\.8MB / 20\.0MB'
	assert_match "$OUT" '[0-9a-f]{12}: Pushed'
	# 20 MB in chunks of 8 MiB: three PATCHes, then the closing PUT
	assert_eq "$(reqs PATCH big/blobs/uploads/)" 3 "PATCH requests"
	assert_eq "$(reqs PUT big/blobs/uploads/)" 2 "closing PUTs (config, layer)"
	assert_eq "$(remote_digest big:1)" "$(local_field big:1 digest)"
	id=$(local_field big:1 id)
	assert_ok "$BERTH" pull --store "$TDIR/store2" --insecure "$REG/big:1"
	assert_eq "$(local_field "$REG/big:1" id "$TDIR/store2")" "$id" "image id pulled back"
	assert_ok "$BERTH" image --store "$TDIR/store2" unpack "$REG/big:1" "$TDIR/b"
	assert_eq "$(stat -c %s "$TDIR/b/rootfs/big")" 20000000
}

# An image named in one repository of the registry goes to another one by
# mounts: the registry links the blobs, nothing is uploaded again.
t_push_mounts_from_another_repo() {
	start_registry
	mini_image mini:1
	assert_ok bi tag mini:1 "$REG/mini:1"
	assert_ok bpush --insecure "$REG/mini:1"
	assert_ok bpush --insecure "$REG/mini:1" "$REG/team/other:2"
	assert_eq "$(grep -c ': Mounted from mini$' <<<"$OUT")" 2 "blobs mounted"
	assert_eq "$(reqs POST 'team/other/blobs/uploads/?mount=sha256%3A[0-9a-f]*&from=mini ')" 2 \
		"mount requests"
	assert_eq "$(reqs PATCH team/other/)" 0 "PATCHes to the new repository"
	assert_eq "$(reqs PUT team/other/blobs/)" 0 "blob PUTs to the new repository"
	assert_eq "$(remote_digest team/other:2)" "$(local_field mini:1 digest)"
	# a registry that does not mount answers 202: the blob goes up
	rm -rf "$TDIR/reg/docker/registry/v2/repositories/mini"
	assert_ok bpush --insecure "$REG/mini:1" "$REG/third:1"
	assert_eq "$(grep -c ': Pushed$' <<<"$OUT")" 2 "blobs pushed when the mount fails"
	assert_eq "$(remote_digest third:1)" "$(local_field mini:1 digest)"
}

t_push_basic_auth() {
	local pw=$TDIR/htpasswd config before
	command -v htpasswd >/dev/null || sh "$IT_LIB_DIR/../deps.sh" apache2-utils >/dev/null 2>&1
	command -v htpasswd >/dev/null || skip "htpasswd (apache2-utils) cannot be installed"
	htpasswd -Bbn tester s3cret >"$pw" || fail "htpasswd failed"
	start_registry "$pw"
	mini_image mini:1
	config=$(local_field mini:1 id)
	before=$(store_list)
	mkdir -p "$TDIR/nologin"
	DOCKER_CONFIG=$TDIR/nologin assert_fail_with \
		"push $REG/mini:1: blob $config: 401 Unauthorized: $REG wants a login" \
		bpush --insecure mini:1 "$REG/mini:1"
	docker_config "$TDIR/bad" "$REG" tester:wrong
	DOCKER_CONFIG=$TDIR/bad assert_fail_with "push $REG/mini:1: blob $config: 401 Unauthorized" \
		bpush --insecure mini:1 "$REG/mini:1"
	assert_eq "$(store_list)" "$before" "the store after the refused pushes"
	assert_eq "$(ls -A "$TDIR/store/tmp")" "" "store tmp/"
	docker_config "$TDIR/good" "$REG" tester:s3cret
	DOCKER_CONFIG=$TDIR/good assert_ok bpush --insecure mini:1 "$REG/mini:1"
	assert_eq "$(grep -c ': Pushed$' <<<"$OUT")" 2 "blobs pushed"
	DOCKER_CONFIG=$TDIR/good assert_ok "$BERTH" pull --store "$TDIR/store2" --insecure "$REG/mini:1"
	assert_eq "$(local_field "$REG/mini:1" id "$TDIR/store2")" "$config" "image id pulled back"
	assert_store_consistent
}

# A token server in front of the registry, as Docker Hub has, for every
# method: requests without the token get a challenge for a pull scope (as
# a registry answers a HEAD), the others go to the registry with their
# bodies, and upload Locations are turned back to the proxy.
PUSH_TOKEN_PROXY='
import http.server, json, os, sys, urllib.error, urllib.request
port_file, upstream, log = sys.argv[1:4]
TOKEN = "tok-push-0123456789"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def note(self, line):
        with open(log, "a") as f:
            f.write(line + "\n")
    def reply(self, code, headers=(), body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def handle_any(self):
        me = "http://127.0.0.1:%d" % self.server.server_port
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else None
        auth = self.headers.get("Authorization", "")
        if self.path.startswith("/token"):
            self.note("token %s %s" % (self.path, auth))
            return self.reply(200, body=json.dumps({"token": TOKEN}).encode())
        if auth != "Bearer " + TOKEN:
            self.note("401 %s %s" % (self.command, self.path))
            ch = "Bearer realm=\"%s/token\",service=\"berth-test\",scope=\"repository:mini:pull\"" % me
            return self.reply(401, [("WWW-Authenticate", ch)])
        self.note("%s %s" % (self.command, self.path))
        hs = {k: self.headers[k] for k in ("Accept", "Content-Type", "Content-Range") if self.headers.get(k)}
        req = urllib.request.Request(upstream + self.path, data=data, headers=hs, method=self.command)
        try:
            r = urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            r = e
        out = [(k, r.headers[k].replace(upstream, me)) for k in
               ("Content-Type", "Docker-Content-Digest", "Location", "Range") if r.headers.get(k)]
        self.reply(r.getcode(), out, r.read())
    do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = handle_any
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_port))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
'

t_push_bearer_token() {
	local n=100 port
	start_registry
	mini_image mini:1
	python3 -c "$PUSH_TOKEN_PROXY" "$TDIR/proxy.port" "http://$REG" "$TDIR/proxy.log" \
		>"$TDIR/proxy.out" 2>&1 &
	stop_later $!
	while ! [ -s "$TDIR/proxy.port" ] && [ $n -gt 0 ]; do
		sleep 0.05
		n=$((n - 1))
	done
	port=$(cat "$TDIR/proxy.port") || fail "the token proxy did not start: $(cat "$TDIR/proxy.out")"
	docker_config "$TDIR/cfg" "127.0.0.1:$port" tester:s3cret
	DOCKER_CONFIG=$TDIR/cfg assert_ok bpush --insecure mini:1 "127.0.0.1:$port/mini:1"
	assert_eq "$(grep -c ': Pushed$' <<<"$OUT")" 2 "blobs pushed"
	# one token, for pull and push whatever the challenge said, with the
	# login; every upload went through the proxy with it
	assert_eq "$(grep -c '^token ' "$TDIR/proxy.log")" 1 "token requests"
	assert_match "$(grep '^token ' "$TDIR/proxy.log")" \
		'^token /token\?scope=repository%3Amini%3Apull%2Cpush&service=berth-test Basic dGVzdGVyOnMzY3JldA==$'
	assert_eq "$(grep -c '^POST /v2/mini/blobs/uploads/' "$TDIR/proxy.log")" 2 "uploads through the proxy"
	assert_eq "$(grep -c '^PUT /v2/mini/blobs/uploads/.*digest=sha256%3A' "$TDIR/proxy.log")" 2 \
		"closing PUTs through the proxy"
	assert_eq "$(grep -c '^PUT /v2/mini/manifests/1$' "$TDIR/proxy.log")" 1 "manifest PUT"
	assert_eq "$(remote_digest mini:1)" "$(local_field mini:1 digest)"
}

t_push_pulled_by_docker() {
	start_registry
	mini_image mini:1
	assert_ok bpush --insecure mini:1 "$REG/mini:1"
	docker_setup
	# dockerd takes 127.0.0.0/8 for an insecure registry by default
	run dk pull "$REG/mini:1"
	[ "$RC" = 0 ] || skip "dockerd cannot pull from $REG: $(last_line "$ERR")"
	assert_eq "$(dk image inspect -f '{{.Id}}' "$REG/mini:1")" "$(local_field mini:1 id)" \
		"docker's image id"
	assert_ok dk run --rm --runtime berth "$REG/mini:1"
	assert_eq "$OUT" "pushed and pulled"
}

t_push_refusals() {
	local port
	start_registry
	mini_image mini:1
	assert_fail_with "push $REG/mini:1: " bpush --insecure nope:1 "$REG/mini:1"
	assert_contains "$(last_line "$ERR")" "nope:1"
	assert_fail_with "push: invalid reference \"$REG/Mini\"" \
		bpush --insecure mini:1 "$REG/Mini"
	assert_fail_with "a push goes to a tag, not to a digest" \
		bpush --insecure mini:1 "$REG/mini@sha256:$(printf x | sha256sum | cut -d' ' -f1)"
	assert_fail_with "--insecure: registry.example.com is not a loopback registry" \
		bpush --insecure mini:1 registry.example.com/mini:1
	# a registry that is not there
	port=$(free_port)
	assert_fail_with "push 127.0.0.1:$port/mini:1: HEAD http://127.0.0.1:$port/v2/mini/blobs/sha256:" \
		bpush --insecure mini:1 "127.0.0.1:$port/mini:1"
	assert_contains "$(last_line "$ERR")" "Couldn't connect to server"
	assert_eq "$(reqs POST mini/)" 0 "uploads after the refusals"
	assert_store_consistent
}
