# berth compose: Compose projects run as jobs. Every test builds its own
# network world (world.sh: a private namespace plays the host; the
# machine's own network is never touched) and makes its image from the
# busybox rootfs; nothing is downloaded.

# shellcheck source=compose-lib.sh
. "$IT_LIB_DIR/compose-lib.sh"

t_compose_up_ps_logs_down() {
	compose_setup
	printf 'WHO=from-dotenv\n' >"$TDIR/proj/.env"
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: app$IT_TOKEN
	x-common: &common
	  image: net:1
	  # the init forwards down's SIGTERM: no 10 s of grace for sleep
	  init: true
	  environment:
	    BERTH_IT: $IT_TOKEN
	    WHO: \${WHO}
	    DEFAULTED: \${NOT_SET:-dflt}
	services:
	  db:
	    <<: *common
	    command: nc -ll -p 7000 -e echo db-answers
	    ports:
	      - "9300:7000"
	  worker:
	    <<: *common
	    depends_on: [db]
	    deploy:
	      replicas: 3
	    command: ["sh", "-c", "sleep 0.5; echo \$\$WHO \$\$DEFAULTED \$\$(nc -w 3 db 7000 </dev/null); sleep 30"]
	EOF
	assert_ok wcomp config
	assert_contains "$OUT" "WHO: from-dotenv" "config interpolates from .env"
	assert_contains "$OUT" "DEFAULTED: dflt" "\${VAR:-default}"
	assert_ok wcomp up -d
	local n
	wait_cps ' running ' 4
	run wcomp ps
	assert_eq "$(grep -c ' running .*10\.89\.0\.' <<<"$OUT")" 4 "ps: db and 3 workers with addresses"
	run w "$BUSYBOX" nc -w 3 198.51.100.1 9300 </dev/null
	assert_eq "$OUT" db-answers "a published port of a service"
	for n in $(seq 50); do
		run wcomp logs worker
		[ "$(grep -c 'from-dotenv dflt db-answers' <<<"$OUT")" = 3 ] && break
		sleep 0.1
	done
	assert_eq "$(grep -c 'from-dotenv dflt db-answers' <<<"$OUT")" 3 \
		"every worker reached db by its service name"
	run wcomp exec --index 1 worker sh -c 'echo $WHO from $(hostname); exit 3'
	assert_eq "$RC" 3 "compose exec gives the command's status ($(last_line "$ERR"))"
	assert_eq "$OUT" "from-dotenv from worker.1" "compose exec in worker.1"
	assert_fail_with "service worker has no running container worker.7" \
		wcomp exec --index 7 worker true
	assert_ok wcomp top db
	assert_contains "$OUT" "nc -ll -p 7000" "compose top"
	assert_ok wcomp kill -s TERM worker
	assert_ok wcomp down
	assert_ok wcomp ps
	assert_eq "$(grep -c running <<<"$OUT")" 0 "down stops everything"
	# --scale
	assert_ok wcomp up -d --scale worker=1
	wait_cps ' running ' 2
	assert_ok wcomp down -v
	world_clean
}

t_compose_x_berth_pool() {
	compose_setup
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: pool$IT_TOKEN
	services:
	  coordinator:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    network_mode: none
	    command: ["sh", "-c", "seq 1 100; exec >&-; awk '{ s += \$\$1 } END { print \"total\", s > \"/dev/stderr\" }'"]
	    x-berth: {produces: tasks}
	  workers:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    network_mode: none
	    deploy: {replicas: 2}
	    command: ["sh", "-c", "echo \$\$(( {} * 2 ))"]
	    x-berth: {consumes: tasks}
	EOF
	assert_ok wcomp up
	assert_ok wcomp logs coordinator
	assert_contains "$OUT" "total 10100" "the pool doubled 1..100 through the queue"
	assert_ok wcomp down
	world_clean
}

t_compose_bad_input() {
	compose_setup
	printf 'services:\n  a:\n    image: x\n   bad: indent\n' >"$TDIR/proj/compose.yaml"
	assert_fail_with "compose.yaml:4:" wcomp config
	printf 'services:\n  a:\n    image: x\n    depends_on: [a]\n' >"$TDIR/proj/compose.yaml"
	assert_fail_with "depends_on makes a cycle" wcomp up -d
	printf 'services:\n  a:\n    image: x\n    depends_on: [nope]\n' >"$TDIR/proj/compose.yaml"
	assert_fail_with "services.a.depends_on: unknown service \`nope\`" wcomp up -d
	printf 'services:\n  a:\n    image: ${MUST:?set MUST first}\n' >"$TDIR/proj/compose.yaml"
	assert_fail_with "MUST: set MUST first" wcomp up -d
	printf 'services:\n  a:\n    image: x\n    privileged: true\n' >"$TDIR/proj/compose.yaml"
	assert_fail_with "services.a.privileged: not supported by berth compose" wcomp up -d
	printf 'services:\n  a:\n    image: net:1\n    ports: ["9400:1"]\n  b:\n    image: net:1\n    ports: ["9400:2"]\n' \
		>"$TDIR/proj/compose.yaml"
	assert_fail_with "services.b.ports: host port 9400 is published by services.a too" wcomp up -d
	printf 'services:\n  a:\n    image: x\n    expose: ["80", 81, "9000-9001/udp"]\n' \
		>"$TDIR/proj/compose.yaml"
	run wcomp config
	assert_eq "$RC" 0 "expose is taken ($(last_line "$ERR"))"
	assert_not_contains "$ERR" "expose" "and not warned of: every port is reachable on the network"
	printf 'services:\n  a:\n    image: x\n    expose: ["70000"]\n' >"$TDIR/proj/compose.yaml"
	assert_fail_with 'services.a.expose: `70000`: expected PORT[-PORT][/tcp|/udp]' wcomp config
	printf 'services:\n  a:\n    image: x\n    logging: {driver: syslog}\n' \
		>"$TDIR/proj/compose.yaml"
	run wcomp config
	assert_contains "$ERR" "services.a.logging is not applied by berth compose yet" \
		"a key read but not applied is named"
	printf 'services:\n  a:\n    image: x\n  b:\n    image: x\n    depends_on: {a: {condition: service_healthy}}\n' \
		>"$TDIR/proj/compose.yaml"
	assert_fail_with "service_healthy, but \`a\` has no healthcheck" wcomp up -d
	world_clean
}

t_compose_depends_on_healthy_and_completed() {
	compose_setup
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: seed$IT_TOKEN
	services:
	  init:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    command: ["sh", "-c", "sleep 0.3; echo init done"]
	  db:
	    image: net:1
	    init: true
	    environment: [BERTH_IT=$IT_TOKEN]
	    depends_on:
	      init: {condition: service_completed_successfully}
	    # listens only after a second: started is not ready
	    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec nc -ll -p 7000 -e echo db-answers"]
	    healthcheck:
	      test: ["CMD-SHELL", "test -f /tmp/ready"]
	      interval: 200ms
	      retries: 50
	  coordinator:
	    image: net:1
	    init: true
	    environment: [BERTH_IT=$IT_TOKEN]
	    depends_on:
	      db: {condition: service_healthy}
	    command: ["sh", "-c", "nc -w 3 db 7000 </dev/null; sleep 30"]
	EOF
	assert_ok wcomp up -d
	local n
	for n in $(seq 80); do
		run wcomp logs coordinator
		[ -n "$OUT" ] && break
		sleep 0.1
	done
	assert_eq "$OUT" "coordinator.0 | db-answers" "the coordinator started once db was healthy"
	run wcomp logs init
	assert_eq "$OUT" "init.0 | init done" "init ran to completion first"
	assert_ok wcomp down
	world_clean
}

# init, ulimits and cpus reach the service's container, as docker-compose
# applies them (launch's --init, --ulimit, --cpus).
t_compose_init_ulimits_cpus() {
	compose_setup
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: lim$IT_TOKEN
	services:
	  app:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    init: true
	    cpus: 0.5
	    ulimits:
	      nproc: 512
	      nofile: {soft: 1000, hard: 2000}
	    command:
	      - sh
	      - -c
	      - >-
	        echo "pid1=\$\$(tr '\\0' ' ' </proc/1/cmdline)";
	        echo "nofile=\$\$(ulimit -Sn):\$\$(ulimit -Hn) nproc=\$\$(ulimit -Su)";
	        echo "quota=\$\$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max)"
	  lab:
	    image: net:1
	    init: true
	    environment: [BERTH_IT=$IT_TOKEN]
	    labels: {com.example.tier: backend}
	    command: ["sleep", "60"]
	EOF
	assert_ok wcomp up -d
	assert_not_contains "$ERR$OUT" "not applied" "no warning for these keys"
	local n
	for n in $(seq 50); do
		run wcomp logs app
		[[ "$OUT" == *quota=* ]] && break
		sleep 0.1
	done
	assert_contains "$OUT" "app.0 | pid1=/sbin/berth-init init -- sh -c" "the tiny init is PID 1"
	assert_contains "$OUT" "app.0 | nofile=1000:2000 nproc=512" "ulimits"
	assert_contains "$OUT" "app.0 | quota=50000" "cpus: 0.5"
	assert_ok nsenter --net="$WORLD" "$BERTH" --root "$ROOT/jobs/lim$IT_TOKEN/run/lab" state lab.0
	assert_eq "$(jq -r '.annotations["com.example.tier"]' <<<"$OUT")" backend "labels: annotations of the container"
	assert_ok wcomp down
	# a queue's workers take none of them
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: limp$IT_TOKEN
	services:
	  coordinator:
	    image: net:1
	    network_mode: none
	    command: ["seq", "1", "3"]
	    x-berth: {produces: tasks}
	  workers:
	    image: net:1
	    network_mode: none
	    init: true
	    command: ["true"]
	    x-berth: {consumes: tasks}
	EOF
	assert_fail_with "apply to a service's container" wcomp up
	assert_ok wcomp down
	world_clean
}

# down stops a service as docker-compose does: its stop_signal, then
# SIGKILL after stop_grace_period.
t_compose_stop_signal_and_grace() {
	compose_setup
	mkdir "$TDIR/proj/out"
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: stop$IT_TOKEN
	services:
	  gentle:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    stop_signal: SIGUSR1
	    stop_grace_period: 20s
	    volumes: ["./out:/out"]
	    command: ["sh", "-c", "trap 'echo got USR1 >/out/gentle; exit 0' USR1; touch /out/up; while :; do sleep 0.1; done"]
	  stubborn:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    stop_grace_period: 1s
	    command: ["sleep", "300"]
	EOF
	assert_ok wcomp up -d
	local n
	for n in $(seq 50); do
		[ -e "$TDIR/proj/out/up" ] && break
		sleep 0.1
	done
	sleep 0.3
	local t0 t1
	t0=$(date +%s%N)
	assert_ok wcomp down
	t1=$(date +%s%N)
	assert_eq "$(cat "$TDIR/proj/out/gentle" 2>/dev/null)" "got USR1" \
		"the service got its stop signal and ended by itself"
	local ms=$(((t1 - t0) / 1000000))
	[ "$ms" -ge 900 ] || fail "down took $ms ms: the stubborn one's 1 s of grace was not given"
	[ "$ms" -lt 15000 ] || fail "down took $ms ms: the gentle one was waited for its whole grace"
	world_clean
}

# restart: a container that ends by itself starts again as docker's policy
# says, until down.
t_compose_restart_policies() {
	compose_setup
	mkdir "$TDIR/proj/out"
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: rs$IT_TOKEN
	services:
	  always:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    restart: always
	    volumes: ["./out:/out"]
	    command: ["sh", "-c", "echo run >>/out/always"]
	  never:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    restart: "no"
	    volumes: ["./out:/out"]
	    command: ["sh", "-c", "echo run >>/out/never"]
	  keep:
	    image: net:1
	    init: true
	    environment: [BERTH_IT=$IT_TOKEN]
	    command: ["sleep", "60"]
	EOF
	assert_ok wcomp up -d
	local n
	for n in $(seq 60); do
		[ "$(wc -l <"$TDIR/proj/out/always" 2>/dev/null)" -ge 4 ] && break
		sleep 0.1
	done
	assert_match "$(wc -l <"$TDIR/proj/out/always")" '^[4-9]|[1-9][0-9]+$' \
		"always: started again and again"
	assert_eq "$(wc -l <"$TDIR/proj/out/never")" 1 "no: once"
	assert_ok wcomp down
	local after
	after=$(wc -l <"$TDIR/proj/out/always")
	sleep 0.5
	assert_eq "$(wc -l <"$TDIR/proj/out/always")" "$after" "no restart after down"
	# on-failure:N: N restarts of a failing container, then its failure
	# is the project's, as a service's failure is
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: rf$IT_TOKEN
	services:
	  twice:
	    image: net:1
	    environment: [BERTH_IT=$IT_TOKEN]
	    restart: on-failure:2
	    volumes: ["./out:/out"]
	    command: ["sh", "-c", "echo run >>/out/twice; exit 3"]
	EOF
	run wcomp up
	assert_eq "$(wc -l <"$TDIR/proj/out/twice")" 3 "on-failure:2: once and two restarts"
	assert_contains "$ERR" "container twice.0 exited with status 3" "then the failure"
	assert_ok wcomp down
	world_clean
}

t_compose_config_agrees_with_docker_compose() {
	berth_only "compose is berth's own command"
	command -v docker-compose >/dev/null ||
		sh "$IT_LIB_DIR/../deps.sh" docker-compose >/dev/null 2>&1 ||
		skip "docker-compose cannot be installed"
	mkdir -p "$TDIR/proj/data"
	printf 'TAG=1.2\n' >"$TDIR/proj/.env"
	cat >"$TDIR/proj/compose.yaml" <<-'EOF'
	version: "3.9"
	x-base: &base
	  image: "registry.example/app:${TAG}"
	  environment:
	    - MODE=${MODE:-prod}
	    - LITERAL=$$HOME
	services:
	  web:
	    <<: *base
	    command: python -m http.server 8000 --bind 0.0.0.0
	    ports:
	      - "8000:8000"
	      - "127.0.0.1:9000:9000/udp"
	    volumes:
	      - ./data:/data:ro
	      - cache:/cache
	  worker:
	    <<: *base
	    entrypoint: ["/bin/sh", "-c"]
	    command: ["echo $$MODE"]
	    environment:
	      ROLE: worker
	    depends_on: [web]
	volumes:
	  cache: {}
	EOF
	assert_ok sh -c "cd '$TDIR/proj' && '$BERTH' --root '$ROOT' compose config" 
	printf '%s\n' "$OUT" >"$TDIR/berth.yaml"
	run sh -c "cd '$TDIR/proj' && docker-compose config"
	[ "$RC" = 0 ] || skip "docker-compose config: $(last_line "$ERR")"
	printf '%s\n' "$OUT" >"$TDIR/dc.yaml"
	run compare_configs "$TDIR/berth.yaml" "$TDIR/dc.yaml"
	assert_eq "$RC" 0 "berth and docker-compose config: $OUT"
}

# The seed's life cycle: a db with a healthcheck and a published port, a
# coordinator that waits for it, workers that reach it by name; logs -f
# while they scale, stop, start and restart; down leaves nothing.
t_compose_stop_start_scale_logs_follow() {
	compose_setup
	cat >"$TDIR/proj/compose.yaml" <<-EOF
	name: life$IT_TOKEN
	x-common: &common
	  image: net:1
	  init: true
	  environment: [BERTH_IT=$IT_TOKEN]
	services:
	  db:
	    <<: *common
	    command: ["nc", "-ll", "-p", "7000", "-e", "echo", "db-answers"]
	    ports: ["9301:7000"]
	    healthcheck:
	      test: ["CMD-SHELL", "nc -w 1 127.0.0.1 7000 </dev/null | grep -q db-answers"]
	      interval: 100ms
	      retries: 50
	  coordinator:
	    <<: *common
	    depends_on:
	      db: {condition: service_healthy}
	    command: ["sh", "-c", "echo coord \$\$(nc -w 3 db 7000 </dev/null); while sleep 0.2; do :; done"]
	  worker:
	    <<: *common
	    depends_on:
	      db: {condition: service_healthy}
	    deploy: {replicas: 4}
	    command: ["sh", "-c", "echo worker \$\$(hostname) \$\$(nc -w 3 db 7000 </dev/null); while sleep 0.2; do :; done"]
	EOF
	assert_ok wcomp up -d
	wait_cps ' running ' 6
	run w "$BUSYBOX" nc -w 3 198.51.100.1 9301 </dev/null
	assert_eq "$OUT" db-answers "the published port"
	: >"$TDIR/follow.out"
	# exec: $! is berth itself
	(cd "$TDIR/proj" && BERTH_STORE=$TDIR/store exec nsenter --net="$WORLD" \
		"$BERTH" --root "$ROOT" compose logs -f worker) >"$TDIR/follow.out" 2>&1 &
	local follower=$! n
	defer "kill $follower 2>/dev/null"
	for n in $(seq 50); do
		[ "$(grep -c 'db-answers' "$TDIR/follow.out")" -ge 4 ] && break
		sleep 0.1
	done
	assert_eq "$(grep -c '^worker\.[0-3] | worker worker\.[0-3] db-answers$' "$TDIR/follow.out")" 4 \
		"logs -f: every worker reached db by name"
	# --scale on the running project
	assert_ok wcomp up -d --scale worker=2
	run wcomp ps
	assert_eq "$(grep -c '^worker\.' <<<"$OUT")" 2 "scaled down to 2 workers"
	assert_ok wcomp up -d --scale worker=3
	wait_cps '^worker\.[0-2] .* running ' 3
	for n in $(seq 50); do
		[ "$(grep -c '^worker\.2 | worker worker\.2 db-answers$' "$TDIR/follow.out")" = 2 ] && break
		sleep 0.1
	done
	assert_eq "$(grep -c '^worker\.2 | worker worker\.2 db-answers$' "$TDIR/follow.out")" 2 \
		"logs -f follows the worker that came back"
	# stop and start a service; restart another
	assert_ok wcomp stop -t 3 worker
	wait_cps '^worker\.[0-2] .* exited\(143\)' 3
	run wcomp ps
	assert_eq "$(grep -c '^worker\.' <<<"$OUT")" 0 "ps without -a: no stopped worker"
	assert_eq "$(grep -c '^db\.0 .* running' <<<"$OUT")" 1 "db runs on"
	assert_ok wcomp start worker
	wait_cps '^worker\.[0-2] .* running ' 3
	assert_ok wcomp restart -t 1 coordinator
	for n in $(seq 50); do
		run wcomp logs coordinator
		[ "$(grep -c 'coord db-answers' <<<"$OUT")" = 2 ] && break
		sleep 0.1
	done
	assert_eq "$(grep -c '^coordinator\.0 | coord db-answers$' <<<"$OUT")" 2 "restart ran the coordinator again"
	assert_ok wcomp logs -t --tail 1 coordinator
	assert_match "$OUT" '^coordinator\.0 \| 20[0-9-]+T[0-9:.]+Z coord db-answers$' "logs -t --tail 1"
	# a one-off container of a service, on the project's network
	run wcomp run --rm worker sh -c 'echo $BERTH_IT $(nc -w 3 db 7000 </dev/null); exit 4'
	assert_eq "$RC" 4 "compose run gives the command's status ($(last_line "$ERR"))"
	assert_eq "$OUT" "$IT_TOKEN db-answers" "compose run: the service's env and network"
	assert_fail_with "compose run: no such service: nope" wcomp run nope true
	run wcomp ps -a
	assert_not_contains "$OUT" "run-" "the one-off container is gone"
	assert_ok wcomp images
	assert_match "$(grep '^worker ' <<<"$OUT")" '^worker +net:1 +[0-9a-f]{12} +[0-9.]+[kMG]?B$' "compose images"
	# the whole project
	assert_ok wcomp stop
	wait_cps ' running ' 0
	wait_cps ' exited' 5
	assert_ok wcomp start
	wait_cps ' running ' 5
	assert_ok wcomp down
	wait "$follower"
	assert_eq "$?" 0 "logs -f ends with down"
	assert_ok wcomp ps -a
	assert_eq "$(grep -c '\.' <<<"$OUT")" 0 "ps -a after down: nothing"
	# --no-start: made, started by start
	assert_ok wcomp up -d --no-start
	run wcomp ps -a
	assert_eq "$(grep -c ' running ' <<<"$OUT")" 0 "--no-start: nothing runs"
	assert_ok wcomp start
	wait_cps ' running ' 6
	assert_ok wcomp down
	assert_fail_with "project life$IT_TOKEN is not up" wcomp start
	assert_fail_with "project life$IT_TOKEN is not up" wcomp run worker true
	world_clean
}
