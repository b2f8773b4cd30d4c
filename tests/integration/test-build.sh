# berth build: Dockerfiles into images of the store, run with berth launch.
# The base image is made at test time from the busybox rootfs; nothing is
# downloaded (RUN steps use --network none).

MKIMAGE=$IT_LIB_DIR/mkimage.py
# shellcheck source=docker.sh
. "$IT_LIB_DIR/docker.sh"

# bb ARGS...: berth build with the test's store, state root and cgroup
# parent.
bb() {
	"$BERTH" --root "$ROOT" build --store "$TDIR/store" --network none \
		--cgroup-parent "berth-test-$IT_TOKEN" "$@"
}

bl() {
	"$BERTH" --root "$ROOT" launch --store "$TDIR/store" \
		--cgroup-parent "berth-test-$IT_TOKEN" -e "BERTH_IT=$IT_TOKEN" "$@"
}

build_setup() {
	berth_only "build is berth's own command"
	echo '{"tags": ["base:1"], "config": {"Env": ["PATH=/bin:/sbin:/usr/bin"], "Cmd": ["sh"]},
		"layers": [{"dir": "'"$ROOTFS"'"}]}' |
		python3 "$MKIMAGE" docker "$TDIR/base.tar" || fail "mkimage.py"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/base.tar"
	mkdir -p "$TDIR/ctx/app/sub" "$TDIR/ctx/skip" "$TDIR/arch"
	echo one >"$TDIR/ctx/app/a.txt"
	echo two >"$TDIR/ctx/app/sub/b.txt"
	echo secret >"$TDIR/ctx/app/secret.key"
	echo never >"$TDIR/ctx/skip/x"
	echo inside >"$TDIR/arch/in.txt"
	tar -C "$TDIR/arch" -czf "$TDIR/ctx/bundle.tar.gz" in.txt
	printf 'skip\n**/*.key\n' >"$TDIR/ctx/.dockerignore"
}

# nothing_left: no build container, mount, staging directory or state.
nothing_left() {
	assert_eq "$(state_left)" "" "state left"
	assert_eq "$(ls -A "$TDIR/store/containers" 2>/dev/null)" "" "bundles left"
	assert_eq "$(grep -c "$TDIR" /proc/self/mountinfo)" 0 "mounts left"
}

t_build_dockerfile_runs_with_launch() {
	build_setup
	cat >"$TDIR/ctx/Dockerfile" <<-'EOF'
	# syntax=docker/dockerfile:1
	ARG GREETING=hello
	FROM base:1
	ARG GREETING
	ARG WHO=world
	ENV MSG="$GREETING $WHO" \
	    EMPTY=
	LABEL org.example.name="demo app" version=1
	WORKDIR /app
	COPY app/ ./
	COPY --chmod=600 app/a.txt /etc/a-copy
	ADD bundle.tar.gz /opt/
	COPY . /ctx/
	RUN echo "built: $MSG" > built.txt && \
	    # a comment inside the continuation
	    mkdir -p /var/data && chown 1234:1234 /var/data
	RUN ["sh", "-c", "echo exec form > /exec.txt"]
	EXPOSE 8080/tcp 53/udp
	USER 1234
	CMD cat /app/built.txt /app/a.txt /app/sub/b.txt /opt/in.txt /exec.txt; ls /app; id -u; stat -c %a /etc/a-copy
	EOF
	assert_ok bb -t app:1 --build-arg WHO=berth "$TDIR/ctx"
	assert_match "$OUT" '^sha256:[0-9a-f]{64}$' "the image id"
	assert_contains "$ERR" "#1 [1/15] FROM base:1" "plain progress"
	assert_contains "$ERR" "RUN echo \"built: \$MSG\"" "the step as written"
	assert_ok bl --rm app:1
	assert_eq "$OUT" "built: hello berth
one
two
inside
exec form
a.txt
built.txt
sub
1234
600" "the image runs as built"
	assert_ok "$BERTH" image --store "$TDIR/store" inspect app:1
	run bl --rm --entrypoint sh app:1 -c 'echo "$MSG|$EMPTY|$(pwd)"; ls /ctx; ls /app/secret.key 2>&1'
	assert_contains "$OUT" "hello berth||/app" "ENV and WORKDIR"
	assert_eq "$(sed -n 2,10p <<<"$OUT" | grep -v No | tr '\n' ' ')" "Dockerfile app bundle.tar.gz " \
		".dockerignore keeps skip/ out"
	assert_contains "$OUT" "secret.key: No such file" ".dockerignore keeps **/*.key out"
	nothing_left
}

t_build_cache_and_changes() {
	build_setup
	printf 'FROM base:1\nCOPY app/a.txt /a\nRUN cat /a > /b\nRUN date +%%s%%N > /stamp\n' \
		>"$TDIR/ctx/Dockerfile"
	assert_ok bb -t c:1 "$TDIR/ctx"
	assert_not_contains "$ERR" "CACHED" "a first build"
	local id1=$OUT
	assert_ok bl --rm c:1 cat /stamp
	local stamp=$OUT
	assert_ok bb -t c:1 "$TDIR/ctx"
	assert_eq "$(grep -c CACHED <<<"$ERR")" 3 "every step cached"
	assert_eq "$OUT" "$id1" "a cached build gives the same image"
	assert_ok bl --rm c:1 cat /stamp
	assert_eq "$OUT" "$stamp" "the cached RUN's result"
	# an ignored file changes nothing; a source that changes reruns from it
	echo other >"$TDIR/ctx/skip/x"
	echo changed >"$TDIR/ctx/app/a.txt"
	assert_ok bb -t c:1 "$TDIR/ctx"
	assert_eq "$(grep -c CACHED <<<"$ERR")" 0 "COPY's content changed"
	assert_ok bl --rm c:1 cat /b
	assert_eq "$OUT" changed "the new content"
	assert_ok bb -t c:1 --no-cache "$TDIR/ctx"
	assert_eq "$(grep -c CACHED <<<"$ERR")" 0 "--no-cache"
	nothing_left
}

# COPY's sources are known by their inode and times once they are over a
# second old: a rebuild reads them no more, and a change that keeps the
# size and the mtime is still seen (its ctime moved).
t_build_cache_knows_files_by_inode_and_times() {
	build_setup
	printf 'FROM base:1\nCOPY app/a.txt /a\n' >"$TDIR/ctx/Dockerfile"
	echo one >"$TDIR/ctx/app/a.txt"
	sleep 1.1 # its ctime over a second old
	assert_ok bb -t k:1 "$TDIR/ctx"
	local ino files=$TDIR/store/build-cache/files
	ino=$(stat -c %i "$TDIR/ctx/app/a.txt")
	assert_eq "$(awk -v i="$ino" '$2 == i' "$files" | wc -l)" 1 "the file's entry"
	assert_match "$(awk -v i="$ino" '$2 == i { print $7 }' "$files")" '^[0-9a-f]{64}$' "its content hash"
	assert_ok bb -t k:1 "$TDIR/ctx"
	assert_eq "$(grep -c CACHED <<<"$ERR")" 1 "cached"
	# same size, the old mtime put back: the ctime tells
	echo two >"$TDIR/ctx/app/a.txt"
	touch -d '-1 minute' "$TDIR/ctx/app/a.txt"
	assert_ok bb -t k:1 "$TDIR/ctx"
	assert_eq "$(grep -c CACHED <<<"$ERR")" 0 "a change with the size and mtime kept"
	assert_ok bl --rm k:1 cat /a
	assert_eq "$OUT" two "the new content"
	# a file changed just now is hashed, not entered
	echo three >"$TDIR/ctx/app/a.txt"
	assert_ok bb -t k:1 "$TDIR/ctx"
	assert_eq "$(awk -v i="$ino" '$2 == i' "$files" | grep -c .)" 1 \
		"one entry of the inode (the one entered before)"
	assert_ok bl --rm k:1 cat /a
	assert_eq "$OUT" three "the newest content"
	# a torn cache file is read as far as it goes
	printf 'garbage\n1 2\n' >>"$files"
	assert_ok bb -t k:1 "$TDIR/ctx"
	nothing_left
}

t_build_multi_stage_and_target() {
	build_setup
	cat >"$TDIR/ctx/Dockerfile" <<-'EOF'
	FROM base:1 AS build
	RUN mkdir /out && echo compiled > /out/bin.txt
	FROM base:1 AS test
	RUN false
	FROM scratch
	COPY --from=build /out/bin.txt /bin.txt
	COPY --from=base:1 /bin/busybox /bin/busybox
	CMD ["/bin/busybox", "cat", "/bin.txt"]
	EOF
	assert_fail_with "Dockerfile:4: RUN: exit status 1" bb -t m:1 "$TDIR/ctx"
	nothing_left
	assert_ok bb -t m:build --target build "$TDIR/ctx"
	assert_ok bl --rm m:build cat /out/bin.txt
	assert_eq "$OUT" compiled "--target build"
	sed -i 's/RUN false/RUN true/' "$TDIR/ctx/Dockerfile"
	assert_ok bb -t m:1 "$TDIR/ctx"
	assert_ok bl --rm m:1
	assert_eq "$OUT" compiled "COPY --from a stage and an image onto scratch"
	nothing_left
}

t_build_bad_input() {
	build_setup
	printf 'FROM base:1\nRUN true\nFROBNICATE x\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:3: unknown instruction: FROBNICATE" bb "$TDIR/ctx"
	printf 'FROM base:1\nRUN exit 3\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:2: RUN: exit status 3" bb "$TDIR/ctx"
	printf 'FROM base:1\nONBUILD RUN true\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:2: ONBUILD: ONBUILD is not supported" bb "$TDIR/ctx"
	printf 'FROM base:1\nCOPY nothere /x\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:2: COPY: \`nothere\`" bb "$TDIR/ctx"
	printf 'FROM base:1\nCOPY ../escape /x\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:2: COPY: \`../escape\`: outside the build context" bb "$TDIR/ctx"
	ln -s /etc/passwd "$TDIR/ctx/out"
	printf 'FROM base:1\nCOPY out /x\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:2: COPY: \`out\`: outside the build context" bb "$TDIR/ctx"
	rm "$TDIR/ctx/out"
	printf 'FROM 127.0.0.1:1/nope:1\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:1: FROM: 127.0.0.1:1/nope:1" bb "$TDIR/ctx"
	printf 'FROM base:1\nRUN echo \xff\xfe\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:2: not UTF-8" bb "$TDIR/ctx"
	{ printf 'FROM base:1\nRUN echo '; head -c 10000000 /dev/zero | tr '\0' a; echo; } \
		>"$TDIR/ctx/Dockerfile"
	assert_fail_with "over 4 MiB" bb "$TDIR/ctx"
	# ARGs that name each other expand once, in order: no loop
	printf 'FROM base:1\nARG A=$B\nARG B=x$A\nRUN echo "[$A][$B]" > /r\nCMD cat /r\n' \
		>"$TDIR/ctx/Dockerfile"
	assert_ok bb -t loop:1 "$TDIR/ctx"
	assert_ok bl --rm loop:1
	assert_eq "$OUT" "[][x]" "ARGs naming each other"
	printf 'FROM base:1\nADD http://example.invalid/x /x\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "remote sources are not supported" bb "$TDIR/ctx"
	printf 'FROM scratch\nRUN true\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "Dockerfile:2: RUN: the stage has no filesystem" bb "$TDIR/ctx"
	assert_fail_with "--target nope: no stage of that name" bb --target nope "$TDIR/ctx"
	assert_fail_with "build context $TDIR/none" bb "$TDIR/none"
	run "$BERTH" image --store "$TDIR/store" ls
	assert_not_contains "$OUT" "latest" "no image named by a failed build"
	nothing_left
}

# listing ROOT: "MODE UID:GID PATH" of what the Dockerfile below made.
listing() {
	(cd "$1" && find app data etc/motd -printf '%m %U:%G %p\n' 2>/dev/null | sort)
}

t_build_agrees_with_docker() {
	build_setup
	IT_TIMEOUT=240
	trap docker_teardown EXIT
	docker_setup
	# one base for both: docker's, loaded into berth's store
	dk save berth-mini:latest -o "$TDIR/mini.tar" || fail "docker save"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/mini.tar"
	cat >"$TDIR/ctx/Dockerfile" <<-'EOF'
	FROM berth-mini:latest
	ENV APP_HOME=/app PATH=/bin:/sbin
	WORKDIR $APP_HOME
	COPY --chown=1234:2345 app/ ./
	COPY app/a.txt /etc/motd
	RUN mkdir -m 750 /data && echo x > /data/f && chmod 640 /data/f && chown 7:8 /data/f
	USER 1234:2345
	EXPOSE 8080 53/udp
	LABEL org.example.role=web version="1.0"
	ENTRYPOINT ["/bin/sh", "-c"]
	CMD ["echo $APP_HOME"]
	EOF
	run env DOCKER_BUILDKIT=0 timeout -k 5 120 "$DOCKER" build --network none -t cmp:1 "$TDIR/ctx"
	[ "$RC" = 0 ] || skip "docker build failed here: $(last_line "$ERR")"
	assert_ok bb -t cmp:1 "$TDIR/ctx"
	local field d b
	for field in Entrypoint Cmd Env WorkingDir User ExposedPorts Labels; do
		d=$(dk image inspect cmp:1 | jq -cS ".[0].Config.$field")
		b=$("$BERTH" image --store "$TDIR/store" inspect cmp:1 | jq -cS ".config.$field")
		assert_eq "$b" "$d" "config.$field: berth and docker"
	done
	dk create --name "$IT_TOKEN-cmp" cmp:1 >/dev/null || fail "docker create"
	mkdir -p "$TDIR/d-root"
	dk export "$IT_TOKEN-cmp" | tar -C "$TDIR/d-root" --numeric-owner -xf - ||
		fail "docker export"
	dk rm "$IT_TOKEN-cmp" >/dev/null
	assert_ok "$BERTH" image --store "$TDIR/store" unpack cmp:1 "$TDIR/b-bundle"
	assert_eq "$(listing "$TDIR/b-bundle/rootfs")" "$(listing "$TDIR/d-root")" \
		"files, modes and owners: berth and docker"
	docker_teardown
	nothing_left
}

# ---- --progress ------------------------------------------------------------

# bb_tty ARGS...: bb on a terminal (script's pty); OUT is what the terminal
# got, escape sequences and carriage returns left out.
bb_tty() {
	local cmd
	cmd=$(printf '%q ' "$BERTH" --root "$ROOT" build --store "$TDIR/store" \
		--network none --cgroup-parent "berth-test-$IT_TOKEN" "$@")
	run script -qec "$cmd" /dev/null
	OUT=$(sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g' <<<"$OUT")
}

t_build_progress_plain() {
	build_setup
	printf 'FROM base:1\nRUN echo plain-out\nCOPY app/a.txt /a\nCMD ["sh"]\n' \
		>"$TDIR/ctx/Dockerfile"
	assert_ok bb --progress plain -t p:1 "$TDIR/ctx"
	assert_eq "$(sed 's/DONE [0-9.]*s/DONE/' <<<"$ERR")" "#1 [1/4] FROM base:1
#2 [2/4] RUN echo plain-out
#2 DONE
#3 [3/4] COPY app/a.txt /a
#3 DONE
#4 [4/4] CMD [\"sh\"]
#4 DONE" "plain lines, as docker's"
	assert_eq "$(head -n 1 <<<"$OUT")" plain-out "RUN's output is berth's own"
	# auto is plain when stderr is no terminal
	assert_ok bb -t p:1 "$TDIR/ctx"
	assert_eq "$(grep -c '^#[23] CACHED$' <<<"$ERR")" 2 "cached steps"
	assert_not_contains "$ERR" $'\x1b' "no escape sequences"
	nothing_left
}

t_build_progress_tty() {
	build_setup
	printf 'FROM base:1\nRUN echo tty-out && sleep 0.5\nCOPY app/a.txt /a\nCMD ["sh"]\n' \
		>"$TDIR/ctx/Dockerfile"
	bb_tty --progress tty -t t:1 "$TDIR/ctx"
	assert_eq "$RC" 0 "the exit status ($(last_line "$OUT"))"
	assert_match "$(last_line "$OUT")" '^sha256:[0-9a-f]{64}$' "the image id"
	assert_contains "$OUT" " => => # tty-out" "the running step's output"
	assert_match "$OUT" '=> \[2/4\] RUN echo tty-out && sleep 0\.5 +[0-9]+\.[0-9]s' \
		"the RUN step collapsed, with its time"
	assert_match "$OUT" '\(4/4\) FINISHED' "the last frame"
	assert_not_contains "$OUT" "#2 DONE" "no plain lines"
	assert_ok "$BERTH" image --store "$TDIR/store" inspect t:1
	bb_tty --progress tty -t t:1 "$TDIR/ctx"
	assert_eq "$RC" 0 "the exit status, cached"
	assert_contains "$OUT" "=> CACHED [2/4] RUN echo tty-out" "a cached step"
	assert_contains "$OUT" "=> CACHED [3/4] COPY app/a.txt /a" "a cached COPY"
	# auto is tty on a terminal
	bb_tty -t t:1 "$TDIR/ctx"
	assert_contains "$OUT" "=> CACHED [2/4]" "auto on a terminal"
	nothing_left
}

t_build_progress_tty_failure() {
	build_setup
	printf 'FROM base:1\nCOPY app/a.txt /a\nRUN echo before-fail; echo to-stderr >&2; exit 4\n' \
		>"$TDIR/ctx/Dockerfile"
	bb_tty --progress tty -t f:1 "$TDIR/ctx"
	assert_eq "$RC" 1 "the exit status"
	assert_contains "$OUT" "=> ERROR [3/3] RUN echo before-fail" "the failed step"
	assert_contains "$OUT" " > [3/3] RUN echo before-fail; echo to-stderr >&2; exit 4:
before-fail
to-stderr
------" "its whole output, stdout and stderr"
	assert_contains "$(last_line "$OUT")" "Dockerfile:3: RUN: exit status 4" \
		"the error names the line"
	run "$BERTH" image --store "$TDIR/store" inspect f:1
	assert_ne "$RC" 0 "no image from a failed build"
	nothing_left
}

t_build_progress_bad() {
	build_setup
	printf 'FROM base:1\n' >"$TDIR/ctx/Dockerfile"
	assert_fail_with "build: --progress bogus: expected auto, plain or tty" \
		bb --progress bogus "$TDIR/ctx"
	assert_fail_with "build: --progress tty: stderr is not a terminal" \
		bb --progress tty "$TDIR/ctx"
	nothing_left
}
