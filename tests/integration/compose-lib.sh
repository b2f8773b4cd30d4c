# compose-lib.sh: what the compose tests share (sourced by test-compose*.sh):
# berth compose in a network world of the test's own (world.sh), and the
# comparison of `berth compose config` with Debian's `docker-compose
# config` that every project a test brings up goes through.

# shellcheck source=world.sh
. "$IT_LIB_DIR/world.sh"

# wcomp ARGS...: berth compose in the world, in the project directory.
# Before an `up`, the project's files are checked against docker-compose's
# reading of them (once per content).
wcomp() {
	[ "${1:-}" = up ] && agrees_with_docker_compose
	(cd "$TDIR/proj" && BERTH_STORE=$TDIR/store nsenter --net="$WORLD" \
		"$BERTH" --root "$ROOT" compose "$@")
}

# wait_cps PATTERN COUNT: until `compose ps -a` has COUNT lines
# matching PATTERN (8 s).
wait_cps() {
	local n
	for n in $(seq 80); do
		run wcomp ps -a
		[ "$(grep -cE "$1" <<<"$OUT")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "compose ps -a: not $2 lines of $1: $OUT"
}

compose_setup() {
	world_setup
	mkdir -p "$TDIR/proj"
	defer "cd $TDIR/proj && BERTH_STORE=$TDIR/store nsenter --net=$WORLD $BERTH --root $ROOT compose down -v"
}

# compare_configs A B [BASE]: the services of two `config` outputs, reduced
# to what both must agree on: image, command, entrypoint, environment
# (with an env_file folded in, as docker-compose prints it), ports (as
# host ip, published, target, protocol), expose, volumes (source, target,
# read-only) and the build context; relative paths from BASE.
compare_configs() {
	python3 - "$1" "$2" "${3:-.}" <<-'PY'
	import os, sys, yaml
	base = sys.argv[3]
	def ports(v):
	    out = []
	    for p in v or []:
	        if isinstance(p, dict):
	            out.append((str(p.get("host_ip", "")), str(p.get("published", "")),
	                        str(p["target"]), p.get("protocol", "tcp")))
	            continue
	        s, proto = (str(p).split("/") + ["tcp"])[:2]
	        parts = s.split(":")
	        ip = parts[0] if len(parts) == 3 else ""
	        pub = parts[-2] if len(parts) >= 2 else ""
	        out.append((ip, pub, parts[-1], proto))
	    return sorted(out)
	def path(p):
	    return os.path.normpath(os.path.join(base, p))
	def vols(v):
	    out = []
	    for x in v or []:
	        if isinstance(x, dict):
	            out.append((x.get("source"), x["target"], bool(x.get("read_only"))))
	            continue
	        f = x.split(":")
	        src = path(f[0]) if f[0].startswith(".") else f[0]
	        out.append((src, f[1], len(f) > 2 and f[2] == "ro"))
	    return sorted(out)
	def env(s):
	    out = {}
	    files = s.get("env_file") or []
	    for f in [files] if isinstance(files, str) else files:
	        for line in open(path(f)):
	            k, _, v = line.strip().partition("=")
	            if k and not k.startswith("#"):
	                out[k] = v
	    out.update({k: str(v) for k, v in (s.get("environment") or {}).items()})
	    return out
	def norm(file):
	    doc = yaml.safe_load(open(file))
	    out = {}
	    for name, s in doc["services"].items():
	        o = {k: s.get(k) for k in ("image", "command", "entrypoint")}
	        o["environment"] = env(s)
	        o["ports"] = ports(s.get("ports"))
	        o["expose"] = sorted(str(e) for e in s.get("expose") or [])
	        o["volumes"] = vols(s.get("volumes"))
	        b = s.get("build")
	        o["build"] = path((b if isinstance(b, str) else b.get("context", "."))) if b else None
	        out[name] = o
	    return out
	a, b = norm(sys.argv[1]), norm(sys.argv[2])
	if a != b:
	    for n in sorted(set(a) | set(b)):
	        if a.get(n) != b.get(n):
	            print("service", n, "berth:", a.get(n), "docker-compose:", b.get(n))
	    sys.exit(1)
	PY
}

# agrees_with_docker_compose: berth's and docker-compose's `config` of
# the project in $TDIR/proj give the same services, images, commands,
# environment, ports and volumes, and docker-compose reads whatever berth
# reads. Skipped where docker-compose cannot be installed.
agrees_with_docker_compose() {
	command -v docker-compose >/dev/null ||
		sh "$IT_LIB_DIR/../deps.sh" docker-compose >/dev/null 2>&1 || return 0
	local sum
	sum=$(cat "$TDIR"/proj/*.y*ml "$TDIR/proj/.env" 2>/dev/null | md5sum)
	[ "$sum" = "${AGREED_SUM:-}" ] && return 0
	AGREED_SUM=$sum
	(cd "$TDIR/proj" && "$BERTH" --root "$ROOT" compose config) >"$TDIR/berth.yaml" 2>"$TDIR/berth.err" ||
		return 0 # what berth refuses is a bad-input test's
	# docker-compose 1.29 predates the top-level name: a copy without it
	sed '/^name:/d' "$TDIR/proj/compose.yaml" >"$TDIR/proj/.dc-compose.yaml"
	(cd "$TDIR/proj" && docker-compose -p dc -f .dc-compose.yaml config) \
		>"$TDIR/dc.yaml" 2>"$TDIR/dc.err"
	local d=$?
	rm -f "$TDIR/proj/.dc-compose.yaml"
	[ $d = 0 ] || fail "docker-compose refuses what berth reads: $(grep -v '^$' "$TDIR/dc.err" | head -n 1)"
	compare_configs "$TDIR/berth.yaml" "$TDIR/dc.yaml" "$TDIR/proj" >"$TDIR/cmp.out" ||
		fail "berth and docker-compose config differ: $(cat "$TDIR/cmp.out")"
}
