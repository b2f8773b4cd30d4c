# Slurm (Debian's slurm-wlm 22.05) running job steps in containers of the
# runtime under test: `srun --container=BUNDLE` with oci.conf's runc-style
# command lines, in both of Slurm's modes (RunTimeRun, and
# RunTimeCreate/Start, after which Slurm kills the command's process
# group: the container's init must lead its own session, as runc's does).
# A private munged, slurmctld and slurmd (their own key, sockets, ports,
# spool and state under the test's dir) are started and stopped by pid.
# Skipped where slurm-wlm cannot be installed.
IT_TIMEOUT=240
IT_KILL_AFTER=40

slurm_setup() {
	SL=$TDIR/slurm
	mkdir -p "$SL"/{spool,state,log,munge,containers}
	if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
		! command -v munged >/dev/null; then
		sh "$IT_LIB_DIR/../deps.sh" slurm-wlm >"$SL/apt.log" 2>&1 ||
			skip "slurm-wlm cannot be installed: $(tail -n 1 "$SL/apt.log")"
	fi
	chmod 700 "$SL/munge"
	head -c 1024 /dev/urandom >"$SL/munge/key"
	chmod 400 "$SL/munge/key"
	munged --key-file="$SL/munge/key" --socket="$SL/munge/sock" \
		--pid-file="$SL/munge/pid" --log-file="$SL/munge/log" \
		--seed-file="$SL/munge/seed" --force ||
		skip "munged does not start: $(tail -n 1 "$SL/munge/log" 2>/dev/null)"
	local host port=$((20000 + RANDOM % 20000))
	host=$(hostname -s)
	cat >"$SL/slurm.conf" <<-EOF
	ClusterName=berthtest
	SlurmctldHost=$host(127.0.0.1)
	AuthType=auth/munge
	AuthInfo=socket=$SL/munge/sock
	CredType=cred/munge
	SlurmUser=root
	SlurmdUser=root
	SlurmctldPort=$port
	SlurmdPort=$((port + 1))
	StateSaveLocation=$SL/state
	SlurmdSpoolDir=$SL/spool
	SlurmctldPidFile=$SL/slurmctld.pid
	SlurmdPidFile=$SL/slurmd.pid
	SlurmctldLogFile=$SL/log/slurmctld.log
	SlurmdLogFile=$SL/log/slurmd.log
	ProctrackType=proctrack/linuxproc
	TaskPlugin=task/none
	MpiDefault=none
	SchedulerType=sched/builtin
	SelectType=select/cons_tres
	ReturnToService=2
	JobCompType=jobcomp/none
	AccountingStorageType=accounting_storage/none
	NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
	PartitionName=p Nodes=$host Default=YES MaxTime=INFINITE State=UP
	EOF
	slurm_oci run
	export SLURM_CONF=$SL/slurm.conf
	slurmctld -i || skip "slurmctld does not start: $(tail -n 1 "$SL/log/slurmctld.log")"
	slurmd || skip "slurmd does not start: $(tail -n 1 "$SL/log/slurmd.log")"
	local n=0
	until sinfo -h -o %t 2>/dev/null | grep -qx idle; do
		[ $n -lt 100 ] || skip "the node never became idle: $(sinfo 2>&1 | tail -n 1)"
		sleep 0.1
		n=$((n + 1))
	done
	# Slurm takes the rootfs from BUNDLE/rootfs (runc refuses a symlink)
	mkdir -p "$SL/bundle"
	cp -a "$ROOTFS" "$SL/bundle/rootfs" || fail "copy the rootfs"
	(cd "$SL" && "$BERTH" spec >/dev/null) || fail "$BERTH spec"
	jq --arg cg "berth-test-$IT_TOKEN/slurm" '
		.root = {path: "rootfs", readonly: true}
		| .process.terminal = false
		| .linux.cgroupsPath = $cg
		| .linux.namespaces |= map(select(.type != "cgroup"))' "$SL/config.json" >"$SL/bundle/config.json"
}

# slurm_oci run|create: oci.conf for one of Slurm's two modes, with the
# runtime's state root in the test's dir.
slurm_oci() {
	local rt="$BERTH --root=$SL/rt" id="%n.%u.%j.%s.%t"
	{
		echo "ContainerPath=$SL/containers"
		echo "RunTimeQuery=\"$rt state $id\""
		if [ "$1" = run ]; then
			echo "RunTimeRun=\"$rt run --bundle %b $id\""
		else
			# the init keeps create's stdio: not the pipe that Slurm
			# reads create's output from until it closes
			echo "RunTimeCreate=\"$rt create $id -b %b </dev/null >/dev/null 2>&1\""
			echo "RunTimeStart=\"$rt start $id\""
		fi
		echo "RunTimeKill=\"$rt kill -a $id\""
		echo "RunTimeDelete=\"$rt delete --force $id\""
	} >"$SL/oci.conf"
}

slurm_teardown() {
	SL=$TDIR/slurm
	local f pid
	for f in slurmd.pid slurmctld.pid munge/pid; do
		[ -s "$SL/$f" ] || continue
		stop_pid "$(cat "$SL/$f")"
		rm -f "$SL/$f"
	done
	# slurmstepd renames itself; it has slurmd's environment, our SLURM_CONF
	for pid in $(grep -lsF "SLURM_CONF=$SL/" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
		[ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
		kill -KILL "$pid" 2>/dev/null
	done
	rm -rf "$SL"
}

# slurmd_restart: slurmd reads oci.conf when it starts.
slurmd_restart() {
	local pid n=0
	pid=$(cat "$SL/slurmd.pid")
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		[ $n -lt 100 ] || fail "slurmd does not stop"
		sleep 0.1
		n=$((n + 1))
	done
	slurmd || fail "slurmd does not start again: $(tail -n 1 "$SL/log/slurmd.log")"
	n=0
	until sinfo -h -o %t 2>/dev/null | grep -qx idle; do
		[ $n -lt 100 ] || fail "the node never became idle again: $(sinfo 2>&1 | tail -n 1)"
		sleep 0.1
		n=$((n + 1))
	done
}

# sl_srun ARGS...: srun on our cluster, with a time limit.
sl_srun() {
	timeout -k 5 60 srun "$@"
}

# slurm_left: the runtime must know no container once a step is done.
slurm_left() {
	local left
	left=$(ls -A "$SL/rt" 2>/dev/null)
	[ -z "$left" ] || fail "containers left in the runtime's root: $left"
}

t_slurm() {
	trap slurm_teardown EXIT
	trap 'exit 143' TERM
	slurm_setup

	run sl_srun --container="$SL/bundle" /probe exit 3
	assert_eq "$RC" 3 "srun --container exit status ($(last_line "$ERR"))"
	run sl_srun --container="$SL/bundle" /bin/sh -c \
		'echo $(tr "\0" " " </proc/1/cmdline)$(grep -c "/berth-test-'"$IT_TOKEN"'/slurm" /proc/self/cgroup)'
	assert_eq "$RC" 0 "srun of a shell: $(last_line "$ERR")"
	assert_match "$OUT" "^/bin/sh -c .* [1-9][0-9]*$" "the step is pid 1 of its container, in the bundle's cgroup"
	# Slurm 22.05 runs one task a node in a container: stdin reaches it
	run sh -c "echo hello-stdin | timeout -k 5 60 srun --container=$SL/bundle /bin/cat"
	assert_eq "$OUT" hello-stdin "srun's stdin in the container ($(last_line "$ERR"))"
	slurm_left

	# create, start, then Slurm kills the command's process group
	slurm_oci create
	slurmd_restart
	run sl_srun --container="$SL/bundle" /bin/sh -c 'echo created and started'
	assert_eq "$RC" 0 "srun in create/start mode: $(last_line "$ERR")"
	assert_contains "$(tail -n 20 "$SL/log/slurmd.log")" "done with job" "slurmd's log"
	assert_not_contains "$(tail -n 20 "$SL/log/slurmd.log")" "never started" "slurmd's log"
	slurm_left
	slurm_teardown
}
