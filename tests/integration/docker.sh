# docker.sh: docker (dockerd 20.10 from Debian's docker.io) driving the
# runtime under test through containerd-shim-runc-v2. Sourced by
# test-docker.sh; needs lib.sh.
#
# docker_setup installs docker.io when missing, starts a private dockerd
# (its own data, exec root, socket and cgroup parent under the test's dir)
# with --add-runtime berth=$BERTH, and imports the busybox rootfs as
# berth-mini:latest. It skips the test when dockerd cannot be had.
# docker_teardown stops that dockerd by its pid and removes what it made;
# it is idempotent and also runs from the test's cleanup.

DOCKER=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd

# dk ARGS...: the docker client on our daemon, with a time limit.
dk() {
	timeout -k 5 60 "$DOCKER" "$@"
}

docker_setup() {
	D=$TDIR/docker
	export DOCKER_HOST=unix://$D/docker.sock
	mkdir -p "$D"
	if ! [ -x "$DOCKERD" ] || ! [ -x "$DOCKER" ]; then
		# skip ends a test; the benchmarks' skip returns
		sh "$IT_LIB_DIR/../deps.sh" docker.io >"$D/apt.log" 2>&1 || {
			skip "docker.io cannot be installed: $(tail -n 1 "$D/apt.log")"
			return 1
		}
	fi
	# What dockerd creates outside its own dirs; removed unless it was
	# there before.
	local p
	for p in /etc/docker/key.json /run/docker /run/containerd /etc/docker; do
		[ -e "$p" ] || echo "$p" >>"$D/created"
	done
	defer docker_teardown
	# Without a network namespace of its own dockerd makes no bridge and
	# no iptables rule, as it would in the machine's namespace. With
	# DOCKERD_NETNS (a namespace file the caller made) it runs there with
	# its default bridge, whose rules stay in that namespace.
	local pre=() net=(--iptables=false --ip6tables=false --ip-masq=false --bridge=none)
	if [ -n "${DOCKERD_NETNS:-}" ]; then
		pre=(nsenter --net="$DOCKERD_NETNS")
		net=(--ip6tables=false)
	fi
	setsid "${pre[@]}" "$DOCKERD" --data-root "$D/data" --exec-root "$D/exec" \
		--pidfile "$D/docker.pid" -H "$DOCKER_HOST" \
		--storage-driver overlay2 "${net[@]}" \
		--exec-opt native.cgroupdriver=cgroupfs \
		--cgroup-parent "/berth-test-$IT_TOKEN" \
		--add-runtime "berth=$BERTH" \
		</dev/null >"$D/dockerd.log" 2>&1 &
	echo $! >"$D/dockerd.started"
	local n=0
	until dk info >/dev/null 2>&1; do
		if ! dockerd_running "$(cat "$D/dockerd.started")" || [ $n -ge 200 ]; then
			local why
			why=$(grep -i 'level=\(error\|fatal\)' "$D/dockerd.log" | tail -n 1)
			why=${why:-$(tail -n 1 "$D/dockerd.log")}
			docker_teardown
			skip "dockerd does not start: $why"
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
	tar -C "$ROOTFS" -c . | dk import - berth-mini:latest >/dev/null ||
		fail "docker import of the busybox rootfs"
}

# dockerd_running PID: alive, and not a zombie that the shell which
# started it in the background has yet to reap
dockerd_running() {
	local st=
	{ read -r _ _ st _ <"/proc/$1/stat"; } 2>/dev/null
	[ -n "$st" ] && [ "$st" != Z ]
}

docker_teardown() {
	D=$TDIR/docker
	[ -f "$D/dockerd.started" ] || return 0
	local pid
	pid=$(cat "$D/dockerd.started")
	if kill -0 "$pid" 2>/dev/null; then
		# Containers first, so that the shims exit with them.
		DOCKER_HOST=unix://$D/docker.sock timeout 30 "$DOCKER" ps -aq 2>/dev/null |
			xargs -r env DOCKER_HOST="unix://$D/docker.sock" \
				timeout 30 "$DOCKER" rm -f >/dev/null 2>&1
		stop_pid "$pid" 15
	fi
	rm -f "$D/dockerd.started"
	# dockerd's overlay mounts, should it have left any.
	awk -v d="$D/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m"; done
	local p
	for p in $(cat "$D/created" 2>/dev/null); do
		case "$p" in
		/etc/docker) rmdir "$p" 2>/dev/null ;;
		*) rm -rf "$p" ;;
		esac
	done
	rm -f "$D/created"
	rm -rf "$D"
}

# docker_checks RUNTIME: what docker does with a runtime, through
# --runtime=RUNTIME ("runc" is docker's default and checks the checks).
docker_checks() {
	local rt=$1 r name id
	r=(--runtime="$rt" --network=none)

	run dk run --rm "${r[@]}" berth-mini /probe exit 3
	assert_eq "$RC" 3 "[$rt] docker run exit code ($(last_line "$ERR"))"

	run sh -c "echo hello-stdin | DOCKER_HOST=$DOCKER_HOST timeout 60 $DOCKER run --rm -i ${r[*]} berth-mini /bin/cat"
	assert_eq "$RC" 0 "[$rt] docker run -i ($(last_line "$ERR"))"
	assert_eq "$OUT" hello-stdin "[$rt] docker run -i output"

	# -t needs a terminal on our side too: script(1) gives one.
	run script -qec "timeout --foreground 60 $DOCKER run --rm -t ${r[*]} berth-mini /probe tty" /dev/null
	assert_eq "$RC" 0 "[$rt] docker run -t: $(tr -d '\r' <<<"$OUT" | tail -n 1)"
	assert_eq "$(tr -d '\r' <<<"$OUT" | tr '\n' ' ')" "0 tty 1 tty 2 tty " "[$rt] docker run -t"

	run dk run --rm -u 1000:1000 "${r[@]}" berth-mini /probe ids
	# docker adds the primary group as a supplementary one.
	assert_match "$OUT" "^1000 1000( 1000)?$" "[$rt] docker run -u 1000:1000 ($(last_line "$ERR"))"

	run dk run --rm -e FOO=bar -w /tmp "${r[@]}" berth-mini /bin/sh -c 'echo $FOO $(pwd)'
	assert_eq "$OUT" "bar /tmp" "[$rt] docker run -e -w ($(last_line "$ERR"))"

	# docker's default seccomp profile and capability set reach the process
	run dk run --rm "${r[@]}" berth-mini /probe seccomp
	assert_match "$OUT" "^Seccomp:[[:space:]]*2$" "[$rt] docker's seccomp filter is loaded ($(last_line "$ERR"))"
	run dk run --rm "${r[@]}" berth-mini /bin/sh -c 'mkdir /tmp/d && unshare -U true; echo $?'
	assert_eq "$(last_line "$OUT")" 1 "[$rt] unshare(CLONE_NEWUSER) denied by docker's profile"

	name=$IT_TOKEN-$rt
	run dk run -d --name "$name" "${r[@]}" berth-mini /probe signal-wait
	assert_eq "$RC" 0 "[$rt] docker run -d: $(last_line "$ERR")"
	id=$OUT
	local n=0
	until dk logs "$name" 2>/dev/null | grep -q ready; do
		[ $n -lt 100 ] || fail "[$rt] container $name never printed ready"
		sleep 0.1
		n=$((n + 1))
	done
	assert_ok dk exec "$name" /probe hostname
	assert_eq "$OUT" "${id:0:12}" "[$rt] docker exec hostname"
	assert_ok dk exec -u 1000 -e X=y "$name" /bin/sh -c 'echo $(id -u) $X'
	assert_eq "$OUT" "1000 y" "[$rt] docker exec -u -e"
	run dk exec "$name" /probe exit 4
	assert_eq "$RC" 4 "[$rt] docker exec exit code"
	assert_ok dk top "$name"
	assert_contains "$OUT" "signal-wait" "[$rt] docker top"
	assert_ok dk pause "$name"
	assert_eq "$(dk inspect -f '{{.State.Status}}' "$name")" paused "[$rt] docker pause"
	assert_ok dk unpause "$name"
	assert_eq "$(dk inspect -f '{{.State.Status}}' "$name")" running "[$rt] docker unpause"
	assert_ok dk stop -t 20 "$name"
	assert_eq "$(dk inspect -f '{{.State.ExitCode}}' "$name")" 0 "[$rt] exit code after docker stop"
	assert_eq "$(dk logs "$name" 2>&1 | tail -n 1)" SIGTERM "[$rt] signal seen by the init"
	assert_ok dk rm -f "$name"

	# A running container removed by force.
	run dk run -d --name "$name-f" "${r[@]}" berth-mini /probe sleep 60
	assert_eq "$RC" 0 "[$rt] docker run -d: $(last_line "$ERR")"
	assert_ok dk rm -f "$name-f"
	assert_eq "$(dk ps -aq)" "" "[$rt] containers left in docker"
}
