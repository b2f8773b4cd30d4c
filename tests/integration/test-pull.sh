# Pulling from a registry: `berth pull` speaks the distribution spec to
# Debian's docker-registry, started here on 127.0.0.1 with its storage in
# the test's own directory and stopped by pid in the cleanup. The images
# are made by mkimage.py and pushed with skopeo: no traffic leaves the
# machine.

# bi, mkimg, busybox_desc, img_bundle, store_list, assert_store_consistent
source "$IT_LIB_DIR/test-images.sh"

# bp ARGS...: `berth pull` on the test's own store.
bp() {
	"$BERTH" pull --store "$TDIR/store" "$@"
}

need_registry() {
	if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
		sh "$IT_LIB_DIR/../deps.sh" docker-registry skopeo >/dev/null 2>&1 ||
			skip "docker-registry or skopeo cannot be installed (apt-get install docker-registry skopeo)"
	fi
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something listens on 127.0.0.1:PORT.
wait_port() {
	local n=100
	while [ $n -gt 0 ]; do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
		n=$((n - 1))
	done
	fail "nothing listens on 127.0.0.1:$1 ($(tail -n 3 "$TDIR"/*.log 2>/dev/null))"
}

# stop_later PID: the cleanup ends PID (ours alone) and waits for it.
stop_later() {
	defer "kill $1; for i in \$(seq 50); do kill -0 $1 || break; sleep 0.1; done"
}

# start_registry [HTPASSWD-FILE]: a registry on a free port, its data in
# $TDIR/reg and its access log in $TDIR/registry.log; REG is host:port.
start_registry() {
	local port cfg=$TDIR/registry.yml
	need_registry
	port=$(free_port)
	{
		echo "version: 0.1"
		echo "log: {level: info, accesslog: {disabled: false}}"
		echo "storage: {filesystem: {rootdirectory: $TDIR/reg}}"
		echo "http: {addr: 127.0.0.1:$port}"
		[ -z "${1:-}" ] || echo "auth: {htpasswd: {realm: berth-test, path: $1}}"
	} >"$cfg"
	docker-registry serve "$cfg" >"$TDIR/registry.log" 2>&1 &
	stop_later $!
	wait_port "$port"
	REG=127.0.0.1:$port
}

# push ARCHIVE-OR-LAYOUT NAME:TAG [SKOPEO-ARGS...]: into the registry.
push() {
	local src=$1 dst=$2
	shift 2
	TMPDIR=$TDIR must skopeo copy -q --dest-tls-verify=false "$@" "$src" \
		"docker://$REG/$dst"
}

# push_mini [TAG] [CMD-JSON]: the busybox image as $REG/mini:TAG.
push_mini() {
	local tag=${1:-latest}
	mkimg docker "$TDIR/mini-$tag.tar" \
		"$(busybox_desc "mini:$tag" "${2:-[\"echo\", \"hello from a registry\"]}")"
	push "docker-archive:$TDIR/mini-$tag.tar" "mini:$tag"
}

# remote_digest NAME:TAG: the manifest digest the registry has.
remote_digest() {
	TMPDIR=$TDIR skopeo inspect --raw --tls-verify=false "docker://$REG/$1" |
		sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'
}

# blob_gets REPO: how many blobs the registry has served for REPO. The
# access log line may lag the response a little: wait for at least
# ${2:-0} of them.
blob_gets() {
	local n=20 c
	while :; do
		c=$(grep -c "\"GET /v2/$1/blobs/" "$TDIR/registry.log")
		[ "$c" -ge "${2:-0}" ] || [ $n = 0 ] && break
		sleep 0.05
		n=$((n - 1))
	done
	echo "$c"
}

# assert_store_empty: nothing of a refused pull anywhere but tmp/, and
# tmp/ emptied again.
assert_store_empty() {
	assert_eq "$(store_list | tr '\n' ' ')" "blobs blobs/sha256 images layers " \
		"${1:+$1: }the store"
	assert_eq "$(ls -A "$TDIR/store/tmp")" "" "${1:+$1: }store tmp/"
	assert_ok bi ls -q
	assert_eq "$OUT" "" "${1:+$1: }image ls"
}

# ---- pulling and running ------------------------------------------------------

t_pull_and_run() {
	local id digest
	start_registry
	push_mini
	assert_ok bp --insecure "$REG/mini"
	assert_eq "$OUT" "Pulled image: $REG/mini:latest"
	assert_eq "$ERR" "" "stderr when it is not a terminal"
	assert_ok bi ls
	assert_match "$(sed -n 2p <<<"$OUT")" "^$REG/mini +latest +[0-9a-f]{12} "
	assert_ok bi inspect "$REG/mini:latest"
	digest=$(remote_digest mini:latest)
	assert_eq "$(jq -r .digest <<<"$OUT")" "$digest" "the digest of the manifest's bytes"
	assert_eq "$(jq -c .repoTags <<<"$OUT")" "[\"$REG/mini:latest\"]"
	id=$(new_id pulled)
	img_bundle "$id" "$REG/mini"
	run_a "$id"
	assert_eq "$RC" 0 "exit status of the image's command ($(last_line "$ERR"))"
	assert_eq "$OUT" "hello from a registry"
	assert_store_consistent
	# -q prints the name alone; the image can go again by that name
	assert_ok bi pull -q --insecure "$REG/mini"
	assert_eq "$OUT" "$REG/mini:latest"
	assert_ok bi rm "$REG/mini:latest"
	assert_eq "$(sed -n 1p <<<"$OUT")" "Untagged: $REG/mini:latest"
}

t_pull_by_digest() {
	local digest other
	start_registry
	push_mini
	digest=$(remote_digest mini:latest)
	assert_ok bi pull --insecure "$REG/mini@$digest"
	assert_eq "$OUT" "Pulled image: $REG/mini@$digest"
	assert_ok bi inspect "$REG/mini@$digest"
	assert_eq "$(jq -r .digest <<<"$OUT")" "$digest"
	assert_ok bi ls
	assert_match "$(sed -n 2p <<<"$OUT")" "^$REG/mini +<none> +[0-9a-f]{12} " \
		"image ls of a digest reference: the repository, no tag"
	# a digest the registry does not have
	other=sha256:$(printf x | sha256sum | cut -d' ' -f1)
	assert_fail_with "pull $REG/mini@$other: manifest: 404 Not Found" \
		bp --insecure "$REG/mini@$other"
	assert_store_consistent
}

t_pull_twice_downloads_nothing() {
	local gets blob before
	start_registry
	push_mini
	assert_ok bp --insecure "$REG/mini"
	gets=$(blob_gets mini 2)
	assert_eq "$gets" 2 "blobs served for the first pull (config, layer)"
	blob=$(ls "$TDIR/store/blobs/sha256" | head -n 1)
	before=$(stat -c '%i %Y' "$TDIR/store/blobs/sha256/$blob")
	assert_ok bp --insecure "$REG/mini"
	assert_eq "$OUT" "Pulled image: $REG/mini:latest"
	sleep 0.3
	assert_eq "$(blob_gets mini)" 2 "blobs served for the second pull"
	assert_eq "$(stat -c '%i %Y' "$TDIR/store/blobs/sha256/$blob")" "$before" \
		"blob $blob after the second pull"
	# another image on the same layer: only its config comes
	push_mini 2 '["echo", "two"]'
	assert_ok bp --insecure "$REG/mini:2"
	assert_eq "$(blob_gets mini 3)" 3 "blobs served for an image sharing the layer"
	assert_eq "$(ls "$TDIR/store/layers" | wc -l)" 1 "layers in the store"
	assert_store_consistent
}

t_pull_index_picks_host_arch() {
	local arch
	arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
	start_registry
	mkimg oci-dir "$TDIR/multi" "$(jq -nc --arg root "$ROOTFS" --arg a "linux/$arch" \
		'{tags: ["1"], platforms: ["linux/s390x", $a, "linux/riscv64"],
		config: {Cmd: ["echo", "multi"]}, layers: [{dir: $root}]}')"
	push "oci:$TDIR/multi:1" multi:1 --all
	assert_ok bp --insecure "$REG/multi:1"
	assert_eq "$OUT" "Pulled image: $REG/multi:1"
	assert_ok bi inspect "$REG/multi:1"
	assert_eq "$(jq -r .architecture <<<"$OUT")" "$arch"
	assert_eq "$(blob_gets multi 2)" 2 "blobs served: the host's config and the layer"
	assert_store_consistent
	[ "$arch" = s390x ] && return 0
	mkimg oci-dir "$TDIR/other" "$(jq -nc --arg root "$ROOTFS" \
		'{tags: ["1"], platforms: ["linux/s390x", "windows/amd64"], layers: [{dir: $root}]}')"
	push "oci:$TDIR/other:1" other:1 --all
	assert_fail_with "pull $REG/other:1: manifest: no image for linux/$arch" \
		bp --insecure "$REG/other:1"
}

t_pull_progress_on_a_terminal() {
	start_registry
	push_mini
	# script(1) gives berth a terminal for stderr
	run script -qec "$BERTH pull --store $TDIR/store --insecure $REG/mini" /dev/null
	assert_eq "$RC" 0 "pull on a terminal ($(last_line "$OUT"))"
	assert_match "$OUT" 'sha256:[0-9a-f]{12} layer  done [0-9.]+MB'
	assert_contains "$OUT" "unpacking and verifying the layers"
	assert_contains "$OUT" "Pulled image: $REG/mini:latest"
	run script -qec "$BERTH pull --store $TDIR/store --insecure $REG/mini" /dev/null
	assert_match "$OUT" 'sha256:[0-9a-f]{12} layer  already in the store'
}

# ---- authentication -------------------------------------------------------------

# docker_config DIR REGISTRY USER:PASSWORD: a config.json with that login.
docker_config() {
	mkdir -p "$1"
	jq -n --arg r "$2" --arg a "$(printf %s "$3" | base64 -w0)" \
		'{auths: {($r): {auth: $a}}}' >"$1/config.json"
}

t_pull_basic_auth() {
	local pw=$TDIR/htpasswd
	if ! command -v htpasswd >/dev/null; then
		sh "$IT_LIB_DIR/../deps.sh" apache2-utils >/dev/null 2>&1
	fi
	if command -v htpasswd >/dev/null; then
		htpasswd -Bbn tester s3cret >"$pw" || fail "htpasswd failed"
	elif python3 -c 'import bcrypt' 2>/dev/null; then
		python3 -c 'import bcrypt; print("tester:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt()).decode())' >"$pw"
	else
		skip "neither htpasswd (apache2-utils) nor python3's bcrypt to make the registry's password file"
	fi
	start_registry "$pw"
	mkimg docker "$TDIR/mini.tar" "$(busybox_desc mini:latest '["true"]')"
	push "docker-archive:$TDIR/mini.tar" mini:latest --dest-creds tester:s3cret
	mkdir -p "$TDIR/nologin"
	DOCKER_CONFIG=$TDIR/nologin assert_fail_with \
		"manifest: 401 Unauthorized: $REG wants a login, and $TDIR/nologin/config.json has none" \
		bp --insecure "$REG/mini"
	docker_config "$TDIR/bad" "$REG" tester:wrong
	DOCKER_CONFIG=$TDIR/bad assert_fail_with "manifest: 401 Unauthorized" \
		bp --insecure "$REG/mini"
	assert_store_empty "after the refused logins"
	docker_config "$TDIR/good" "http://$REG/v2/" tester:s3cret
	DOCKER_CONFIG=$TDIR/good assert_ok bp --insecure "$REG/mini"
	assert_eq "$OUT" "Pulled image: $REG/mini:latest"
	# without $DOCKER_CONFIG: ~/.docker/config.json
	docker_config "$TDIR/home/.docker" "$REG" tester:s3cret
	assert_ok bi rm "$REG/mini"
	(unset DOCKER_CONFIG; HOME=$TDIR/home assert_ok bp --insecure "$REG/mini") ||
		exit 1
	assert_store_consistent
}

# A token server in front of the registry, as Docker Hub has: /v2/ asks
# for a Bearer token from /token, and blobs are redirected to the registry
# itself. It logs what it was asked.
TOKEN_PROXY='
import http.server, json, os, sys, urllib.error, urllib.request
port_file, upstream, log = sys.argv[1:4]
TOKEN = "tok-0123456789.abcdef_ghij"
class H(http.server.BaseHTTPRequestHandler):
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
        self.wfile.write(body)
    def do_GET(self):
        me = "http://127.0.0.1:%d" % self.server.server_port
        auth = self.headers.get("Authorization", "")
        if self.path.startswith("/token"):
            self.note("token %s %s" % (self.path, auth))
            return self.reply(200, body=json.dumps({"token": TOKEN}).encode())
        if auth != "Bearer " + TOKEN:
            self.note("401 " + self.path)
            ch = "Bearer realm=\"%s/token\",service=\"berth-test\",scope=\"repository:mini:pull\"" % me
            return self.reply(401, [("WWW-Authenticate", ch)])
        if "/blobs/" in self.path:
            self.note("redirect " + self.path)
            return self.reply(307, [("Location", upstream + self.path)])
        req = urllib.request.Request(upstream + self.path,
                                     headers={"Accept": self.headers.get("Accept", "*/*")})
        try:
            r = urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            r = e
        hs = [(k, r.headers[k]) for k in ("Content-Type", "Docker-Content-Digest") if r.headers.get(k)]
        self.reply(r.getcode(), hs, r.read())
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_port))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
'

t_pull_bearer_token() {
	local n=100 port
	start_registry
	push_mini
	python3 -c "$TOKEN_PROXY" "$TDIR/proxy.port" "http://$REG" "$TDIR/proxy.log" \
		>"$TDIR/proxy.out" 2>&1 &
	stop_later $!
	while ! [ -s "$TDIR/proxy.port" ] && [ $n -gt 0 ]; do
		sleep 0.05
		n=$((n - 1))
	done
	port=$(cat "$TDIR/proxy.port") || fail "the token proxy did not start: $(cat "$TDIR/proxy.out")"
	docker_config "$TDIR/cfg" "127.0.0.1:$port" tester:s3cret
	DOCKER_CONFIG=$TDIR/cfg assert_ok bp --insecure "127.0.0.1:$port/mini"
	assert_eq "$OUT" "Pulled image: 127.0.0.1:$port/mini:latest"
	# the token was asked for once, with the challenge's scope and
	# service and the login; the blobs came through the redirects
	assert_eq "$(grep -c '^token ' "$TDIR/proxy.log")" 1 "token requests"
	assert_match "$(grep '^token ' "$TDIR/proxy.log")" \
		'^token /token\?scope=repository%3Amini%3Apull&service=berth-test Basic dGVzdGVyOnMzY3JldA==$'
	assert_eq "$(grep -c '^redirect ' "$TDIR/proxy.log")" 2 "blob redirects"
	assert_eq "$(blob_gets mini 2)" 2 "blobs the registry served"
	assert_ok bi inspect "127.0.0.1:$port/mini"
	assert_eq "$(jq -r .digest <<<"$OUT")" "$(remote_digest mini:latest)"
	assert_store_consistent
}

# ---- refusals -------------------------------------------------------------------

t_pull_unknown_tag() {
	start_registry
	push_mini
	assert_fail_with "pull $REG/mini:nope: manifest: 404 Not Found" \
		bp --insecure "$REG/mini:nope"
	assert_fail_with "pull $REG/absent:latest: manifest: 404 Not Found" \
		bp --insecure "$REG/absent"
	assert_store_empty
	assert_fail_with "invalid reference \"$REG/Mini\"" bp --insecure "$REG/Mini"
}

t_pull_plain_http_refused() {
	start_registry
	push_mini
	assert_fail_with "GET https://$REG/v2/mini/manifests/latest: SSL connect error" \
		bp "$REG/mini"
	assert_contains "$(last_line "$ERR")" "a plain-http registry needs --insecure"
	# --insecure is for a loopback registry only: refused before any
	# connection is made
	assert_fail_with "--insecure: registry.example.com is not a loopback registry" \
		bp --insecure registry.example.com/mini
	assert_fail_with "--insecure: docker.io is not a loopback registry" \
		bp --insecure busybox
	assert_store_empty
}

# corrupt FILE: flips one byte in the middle of FILE, size unchanged.
corrupt() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(0, 2); n = f.tell(); f.seek(n // 2); b = f.read(1)
    f.seek(n // 2); f.write(bytes([b[0] ^ 0xff]))' "$1" || fail "corrupt $1"
}

# reg_blob DIGEST: the file the registry serves DIGEST from.
reg_blob() {
	local hex=${1#sha256:}
	echo "$TDIR/reg/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

t_pull_corrupt_blob_refused() {
	local manifest layer config
	start_registry
	push_mini
	manifest=$(TMPDIR=$TDIR skopeo inspect --raw --tls-verify=false "docker://$REG/mini:latest")
	layer=$(jq -r '.layers[0].digest' <<<"$manifest")
	config=$(jq -r '.config.digest' <<<"$manifest")
	cp "$(reg_blob "$layer")" "$TDIR/layer.orig"
	corrupt "$(reg_blob "$layer")"
	assert_fail_with "pull $REG/mini:latest: layer $layer: digest mismatch: got sha256:" \
		bp --insecure "$REG/mini"
	assert_store_empty "a corrupted layer"
	# a truncated blob is short of its descriptor's size
	cp "$TDIR/layer.orig" "$(reg_blob "$layer")"
	truncate -s -1 "$(reg_blob "$config")"
	assert_fail_with "config $config: size mismatch" bp --insecure "$REG/mini"
	assert_store_empty "a truncated config"
}

# A manifest's sizes are checked against the limit before a download.
t_pull_size_limit() {
	start_registry
	push_mini
	assert_fail_with "its blobs add up to more than 100 KiB, the size limit of a load" \
		bp --insecure --max-size 100k "$REG/mini"
	assert_match "$(last_line "$ERR")" "pull $REG/mini:latest: manifest sha256:[0-9a-f]{64}: its blobs"
	assert_store_empty "a pull over the limit"
	assert_eq "$(grep -c 'GET /v2/mini/blobs/' "$TDIR/registry.log")" 0 "blob downloads"
	assert_ok bp --insecure --max-size 1g "$REG/mini"
	assert_eq "$OUT" "Pulled image: $REG/mini:latest"
	assert_store_consistent
}

# kill_while_downloading PID: SIGKILL to PID while a layer (the second
# blob or a later one) streams into the pull's staging directory.
# every blob matches its name
assert_store_consistent_blobs() {
	local f
	for f in "$TDIR"/store/blobs/sha256/*; do
		[ -e "$f" ] || continue
		assert_eq "$(sha256sum "$f" | cut -d' ' -f1)" "$(basename "$f")" "blob $f"
	done
}

kill_while_downloading() {
	local n=0
	until compgen -G "$TDIR/store/tmp/pull-*/part-[1-9]*" >/dev/null; do
		kill -0 "$1" 2>/dev/null || fail "the pull ended before it could be killed"
		[ $((n += 1)) -lt 20000 ] || fail "no download started"
		sleep 0.001
	done
	# $2: a check to make while the download runs
	[ -z "${2:-}" ] || "$2"
	kill -9 "$1"
	wait "$1" 2>/dev/null
}

# A pull downloads under the store's shared lock: readers are not held up.
readers_go_on() {
	assert_ok timeout 5 "$BERTH" image --store "$TDIR/store" ls -q
	assert_eq "$OUT" "" "image ls during a pull"
}

t_pull_kill_leaves_store_usable() {
	start_registry
	mkimg docker "$TDIR/big.tar" '{"tags": ["big:1"], "layers": [
		{"entries": [{"path": "big1", "random": 40000000}]},
		{"entries": [{"path": "big2", "random": 40000000}]},
		{"entries": [{"path": "big3", "random": 40000000}]}]}'
	push "docker-archive:$TDIR/big.tar" big:1
	assert_ok bi ls -q # the store exists before the pull starts
	# berth itself in the background, so that $! is its pid
	"$BERTH" pull --store "$TDIR/store" --insecure "$REG/big:1" >/dev/null 2>&1 &
	kill_while_downloading $! readers_go_on
	# the staging under tmp/ is left, and the blobs that were complete
	# and verified (the config at least); readers see no image
	assert_match "$(ls "$TDIR/store/tmp")" '^pull-' "tmp/ after the kill"
	assert_eq "$(cd "$TDIR/store" && find images layers -mindepth 1 | wc -l)" 0 \
		"no image or layer after the kill"
	assert_store_consistent_blobs
	local kept gets
	kept=$(ls "$TDIR/store/blobs/sha256" | wc -l)
	[ "$kept" -ge 1 ] && [ "$kept" -lt 4 ] || fail "$kept of 4 blobs kept after the kill"
	assert_ok bi ls -q
	assert_eq "$OUT" "" "image ls after the kill"
	# the next pull removes the leftovers, fetches only what is missing
	gets=$(blob_gets big)
	assert_ok bp --insecure "$REG/big:1"
	assert_eq "$OUT" "Pulled image: $REG/big:1"
	assert_eq "$(blob_gets big "$((gets + 4 - kept))")" "$((gets + 4 - kept))" \
		"blobs served for the resumed pull"
	assert_store_consistent
	assert_ok bi unpack "$REG/big:1" "$TDIR/b"
	assert_eq "$(stat -c %s "$TDIR/b/rootfs/big3")" 40000000
}
