# berth compose: how a project's services are put together from its files,
# here `extends` (the Compose Specification's, checked against Debian's
# docker-compose 1.29): a service of the same file or of another one (its
# relative paths from that file's directory), chains across files, the
# merge rules, the errors (each naming the file and the service, nothing
# started), and an extended service run and stopped. The project runs in
# its own network world (world.sh); nothing is downloaded.

# shellcheck source=compose-lib.sh
. "$IT_LIB_DIR/compose-lib.sh"

# comp ARGS...: berth compose in the project directory, for `config`,
# which starts nothing and needs no world.
comp() {
	(cd "$TDIR/proj" && "$BERTH" --root "$ROOT" compose "$@")
}

# config_json [ARGS...]: `compose config` as JSON in $OUT.
config_json() {
	assert_ok comp "$@" config
	OUT=$(python3 -c 'import sys, yaml, json
json.dump(yaml.safe_load(sys.stdin), sys.stdout)' <<<"$OUT") ||
		fail "config is not YAML"
}

# svc_eq SERVICE JQ-PATH EXPECTED: the service's value (jq -cS) in the
# JSON of config_json.
svc_eq() {
	assert_eq "$(jq -cS --arg s "$1" ".services[\$s]$2" <<<"$OUT")" "$3" \
		"services.$1$2"
}

# A project of three levels in three directories: compose.yaml's web
# extends common/web.yml's web, which extends base/base.yml's base; each
# file names relative paths (a build context, an env file, binds).
chain_project() {
	local p=$TDIR/proj
	mkdir -p "$p/common/data" "$p/base/ctx" "$p/base/cfg" "$p/cfg2"
	printf 'FROM_FILE=base-dir\n' >"$p/base/base.env"
	cat >"$p/compose.yaml" <<-'EOF'
	services:
	  web:
	    extends: {file: common/web.yml, service: web}
	    environment: [ROLE=web]
	    ports: ["8080:80"]
	    command: ["sh", "-c", "echo web"]
	  worker:
	    extends:
	      file: ./common/web.yml
	      service: web
	    command: worker
	    volumes: ["../shared:/shared", "./cfg2:/cfg"]
	  admin:
	    extends: worker
	    environment: {ROLE: admin}
	EOF
	cat >"$p/common/web.yml" <<-'EOF'
	services:
	  web:
	    extends:
	      file: ../base/base.yml
	      service: base
	    environment:
	      TIER: common
	      LEVEL: web
	    expose: ["90"]
	    volumes: ["./data:/data"]
	EOF
	cat >"$p/base/base.yml" <<-'EOF'
	services:
	  base:
	    image: "net:${TAG:-1}"
	    build: ./ctx
	    env_file: base.env
	    environment: {LEVEL: base, FROM_BASE: "${BASEVAR:-dflt}"}
	    volumes: ["./cfg:/cfg:ro", "../data:/data"]
	    command: base
	EOF
}

t_compose_extends_merge_rules() {
	berth_only "compose is berth's own command"
	mkdir -p "$TDIR/proj"
	cat >"$TDIR/proj/compose.yaml" <<-'EOF'
	services:
	  base:
	    image: net:1
	    environment:
	      A: base
	      B: base
	    labels: {tier: base, keep: kept}
	    ports: ["80", "90"]
	    expose: ["1000"]
	    command: ["base", "cmd"]
	    entrypoint: ["/bin/sh", "-c"]
	    volumes: ["./data:/data", "./logs:/logs:ro"]
	    tmpfs: /run
	    healthcheck:
	      test: ["CMD-SHELL", "exit 0"]
	      interval: 5s
	    deploy:
	      resources: {limits: {memory: 64M}}
	  web:
	    extends: base
	    environment: [B=web, C=web]
	    labels: {tier: web}
	    ports: ["90", "70"]
	    expose: ["2000"]
	    command: web
	    volumes: ["./other:/data:ro", "./x:/x"]
	    tmpfs: [/tmp]
	    healthcheck: {retries: 3}
	    deploy:
	      resources: {limits: {pids: 50}}
	EOF
	config_json
	local d=$TDIR/proj
	svc_eq web .image '"net:1"'
	# key by key, whatever the form: a list extends a mapping
	svc_eq web .environment '{"A":"base","B":"web","C":"web"}'
	svc_eq web .labels '{"keep":"kept","tier":"web"}'
	svc_eq web '.ports | map(tostring)' '["80","90","70"]'
	svc_eq web '.expose | map(tostring)' '["1000","2000"]'
	svc_eq web .command '"web"'
	svc_eq web .entrypoint '["/bin/sh","-c"]'
	svc_eq web .volumes "[\"$d/other:/data:ro\",\"$d/logs:/logs:ro\",\"$d/x:/x\"]"
	svc_eq web .tmpfs '["/run","/tmp"]'
	svc_eq web '.healthcheck | .retries |= tostring' \
		'{"interval":"5s","retries":"3","test":["CMD-SHELL","exit 0"]}'
	svc_eq web '.deploy.resources.limits | map_values(tostring)' \
		'{"memory":"64M","pids":"50"}'
	svc_eq web .extends null
	# the extended service itself stays as it was
	svc_eq base .environment '{"A":"base","B":"base"}'
	svc_eq base .command '["base","cmd"]'
}

t_compose_extends_other_file_up_down() {
	compose_setup
	local p=$TDIR/proj
	mkdir -p "$p/lib/data"
	printf 'from lib/data\n' >"$p/lib/data/hello"
	printf 'FROM_FILE=lib-env\n' >"$p/lib/base.env"
	cat >"$p/lib/common.yml" <<-EOF
	services:
	  base:
	    image: net:1
	    init: true
	    env_file: ./base.env
	    environment:
	      BERTH_IT: $IT_TOKEN
	      WHO: base
	      TIER: common
	    volumes: ["./data:/data:ro"]
	    command: ["sh", "-c", "echo base; sleep 60"]
	EOF
	cat >"$p/compose.yaml" <<-EOF
	name: ext$IT_TOKEN
	services:
	  app:
	    extends:
	      file: lib/common.yml
	      service: base
	    environment:
	      WHO: app
	    command: ["sleep", "60"]
	EOF
	assert_ok wcomp up -d
	wait_cps ' running ' 1
	assert_ok wcomp exec app sh -c 'echo $WHO $TIER $FROM_FILE; cat /data/hello; cat /proc/1/cmdline | tr "\0" " "'
	assert_eq "$(sed -n 1p <<<"$OUT")" "app common lib-env" \
		"the environment: the extending service's, the base's, the base's env_file from lib/"
	assert_eq "$(sed -n 2p <<<"$OUT")" "from lib/data" "a bind of lib/common.yml from lib/"
	assert_contains "$(sed -n 3p <<<"$OUT")" "sleep 60" "the extending service's command"
	assert_not_contains "$(sed -n 3p <<<"$OUT")" "echo base" "not the base's"
	assert_ok wcomp down
	assert_ok wcomp ps
	assert_eq "$(grep -c running <<<"$OUT")" 0 "down stops the extended service"
	world_clean
}

t_compose_extends_chain_across_files() {
	berth_only "compose is berth's own command"
	chain_project
	local p=$TDIR/proj
	config_json
	svc_eq web .image '"net:1"'
	# the base's env_file (from base/) folded in, as docker-compose prints it
	svc_eq web .environment \
		'{"FROM_BASE":"dflt","FROM_FILE":"base-dir","LEVEL":"web","ROLE":"web","TIER":"common"}'
	svc_eq web .build.context "\"$p/base/ctx\""
	svc_eq web .env_file null
	svc_eq web .volumes "[\"$p/base/cfg:/cfg:ro\",\"$p/common/data:/data\"]"
	svc_eq web .command '["sh","-c","echo web"]'
	svc_eq web '.expose | map(tostring)' '["90"]'
	svc_eq worker .command '"worker"'
	svc_eq worker .volumes \
		"[\"$p/cfg2:/cfg\",\"$p/common/data:/data\",\"$TDIR/shared:/shared\"]"
	# admin extends worker of the same file, itself extended: 4 levels
	svc_eq admin .environment \
		'{"FROM_BASE":"dflt","FROM_FILE":"base-dir","LEVEL":"web","ROLE":"admin","TIER":"common"}'
	svc_eq admin .command '"worker"'
	# interpolated in the extended file, from the project's environment
	TAG=7 BASEVAR=set config_json
	svc_eq web .image '"net:7"'
	svc_eq web .environment.FROM_BASE '"set"'
	# a second -f file extends too; its extends.file from the project's
	# directory, as docker-compose takes it
	mkdir -p "$p/more"
	printf 'services:\n  extra:\n    extends: {file: common/web.yml, service: web}\n    command: extra\n' \
		>"$p/more/override.yaml"
	config_json -f compose.yaml -f more/override.yaml
	svc_eq extra .build.context "\"$p/base/ctx\""
	svc_eq extra .command '"extra"'
	svc_eq web .command '["sh","-c","echo web"]'
}

t_compose_extends_config_agrees_with_docker_compose() {
	berth_only "compose is berth's own command"
	command -v docker-compose >/dev/null ||
		sh "$IT_LIB_DIR/../deps.sh" docker-compose >/dev/null 2>&1 ||
		skip "docker-compose cannot be installed"
	chain_project
	cat >>"$TDIR/proj/compose.yaml" <<-'EOF'
	  cli:
	    extends: {file: base/base.yml, service: base}
	    environment:
	      - FROM_BASE=cli
	    entrypoint: ["/bin/sh", "-c"]
	    ports: ["127.0.0.1:9000:9000/udp"]
	    volumes: ["./cli:/cfg:ro"]
	EOF
	assert_ok comp config
	printf '%s\n' "$OUT" >"$TDIR/berth.yaml"
	run sh -c "cd '$TDIR/proj' && docker-compose config"
	[ "$RC" = 0 ] || skip "docker-compose config: $(last_line "$ERR")"
	printf '%s\n' "$OUT" >"$TDIR/dc.yaml"
	run compare_configs "$TDIR/berth.yaml" "$TDIR/dc.yaml" "$TDIR/proj"
	assert_eq "$RC" 0 "berth and docker-compose config of extends: $OUT$ERR"
}

# bad YAML: the project's compose.yaml.
bad() {
	printf '%s\n' "$1" >"$TDIR/proj/compose.yaml"
}

t_compose_extends_bad_input() {
	compose_setup
	local p=$TDIR/proj
	mkdir -p "$p/sub"
	bad 'services:
  a:
    image: net:1
    extends: a'
	assert_fail_with "compose.yaml: services.a.extends: a cycle: a -> a" wcomp up -d
	bad 'services:
  a:
    image: net:1
    extends: b
  b:
    extends: {service: a}'
	assert_fail_with "compose.yaml: services.a.extends: a cycle: a -> b -> a" wcomp up -d
	printf 'services:\n  loop:\n    extends: {service: a, file: ../compose.yaml}\n' >"$p/sub/other.yml"
	bad 'services:
  a:
    image: net:1
    extends: {service: loop, file: sub/other.yml}'
	assert_fail_with "compose.yaml: services.a.extends: a cycle: a -> loop (sub/other.yml) -> a" \
		wcomp up -d
	bad 'services:
  a:
    extends: nope'
	assert_fail_with "compose.yaml: services.a.extends: no service \`nope\` in compose.yaml" \
		wcomp up -d
	bad 'services:
  a:
    extends: {service: nope, file: sub/other.yml}'
	assert_fail_with "compose.yaml: services.a.extends: no service \`nope\` in sub/other.yml" \
		wcomp up -d
	bad 'services:
  a:
    extends: {service: base, file: sub/missing.yml}'
	assert_fail_with "compose.yaml: services.a.extends: file sub/missing.yml: No such file or directory" \
		wcomp up -d
	bad 'services:
  a:
    extends: [b]
  b:
    image: net:1'
	assert_fail_with "compose.yaml: services.a.extends: expected a service's name or {service: NAME, file: FILE}" \
		wcomp up -d
	bad 'services:
  a:
    extends: {file: sub/other.yml}'
	assert_fail_with "compose.yaml: services.a.extends: the name of a service to extend is missing" \
		wcomp up -d
	bad 'services:
  a:
    extends: {service: b, bogus: 1}
  b:
    image: net:1'
	assert_fail_with "compose.yaml: services.a.extends.bogus: not supported (service and file are)" \
		wcomp up -d
	bad 'services:
  a:
    extends: {service: b, file: [x]}
  b:
    image: net:1'
	assert_fail_with "compose.yaml: services.a.extends.file: expected a path" wcomp up -d
	# docker-compose extends no service with depends_on
	bad 'services:
  a:
    image: net:1
    depends_on: [b]
  b:
    image: net:1
  c:
    extends: a'
	assert_fail_with "compose.yaml: services.c.extends: services.a of compose.yaml cannot be extended: it has depends_on" \
		wcomp up -d
	# an error in an extended file names that file
	printf 'services:\n  base:\n    extends: {service: gone}\n' >"$p/sub/other.yml"
	bad 'services:
  a:
    extends: {service: base, file: sub/other.yml}'
	assert_fail_with "sub/other.yml: services.base.extends: no service \`gone\` in sub/other.yml" \
		wcomp up -d
	# nothing started: no job, container, network or rule (world_clean)
	world_clean
}
