# Container networking: named bridge networks, names, published ports.
#
# Every test here builds its own world: a fresh network namespace the
# test creates plays the host (berth runs inside it through nsenter, so
# its bridges, veths, nftables rules and DNS servers are made there), and
# a second one, "outside", plays another machine on the host's link.
# There is no route out of this machine, all traffic goes to addresses
# inside these namespaces, and the machine's own network namespace,
# routes and firewall are never touched. Images are made from the shared
# busybox rootfs; nothing is downloaded.

# shellcheck source=world.sh
. "$IT_LIB_DIR/world.sh"

t_network_create_ls_inspect_rm() {
	world_setup
	assert_ok wb network create --subnet 10.77.0.0/24 --internal n1
	assert_match "$OUT" '^[0-9a-f]{64}$' "create prints the id"
	assert_ok wb network create n2
	assert_ok wb network ls
	assert_match "$OUT" 'n1 +br-[0-9a-f]{12} +10\.77\.0\.0/24 +0 +true' "ls of n1"
	assert_match "$OUT" 'n2 +br-[0-9a-f]{12} +10\.89\.0\.0/24 +0 +false' "ls of n2"
	assert_ok wb network inspect n1
	assert_eq "$(jq -r '.[0].IPAM.Config[0].Gateway' <<<"$OUT")" 10.77.0.1 "gateway"
	assert_eq "$(jq -r '.[0].Internal' <<<"$OUT")" true "internal"
	assert_fail_with "network with name n1 already exists" wb network create n1
	assert_fail_with "overlaps 10.77.0.0/24 of network n1" \
		wb network create --subnet 10.77.0.128/25 n3
	# the world's own link: a route of the host
	assert_fail_with "overlaps route 198.51.100.0/24" \
		wb network create --subnet 198.51.100.0/25 n3
	assert_eq "$(ls "$ROOT/.net/networks")" "n1.json
n2.json" "nothing of a refused network"
	assert_fail_with "not a host address of subnet" \
		wb network create --subnet 10.78.0.0/24 --gateway 10.79.0.1 n3
	assert_fail_with "expected a network address" \
		wb network create --subnet 10.78.0.5/24 n3
	assert_fail_with "network name" wb network create 'bad/name'
	assert_fail_with "reserved" wb network create host
	assert_fail_with "network n9 not found" wb network rm n9
	assert_ok wb network rm n1 n2
	assert_ok wb network ls -q
	assert_eq "$OUT" "" "no network after rm"
	world_clean
}

t_network_names_tcp_udp() {
	world_setup
	assert_ok wb network create app
	local db cli
	db=$(ctr_id db)
	cli=$(ctr_id cli)
	server "$db" app 6379
	# UDP: busybox has no UDP nc; syslogd forwards to a name over UDP,
	# and a receiver in the other container's namespace prints it
	assert_ok wl -d --name "$(ctr_id udp)" --network app --network-alias dgram net:1 sleep 30
	local upid
	upid=$(wb state "$IT_TOKEN-udp" | jq .pid)
	nsenter --net="/proc/$upid/ns/net" python3 -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5000)); s.settimeout(10); print(s.recv(512).decode())' \
		>"$TDIR/udp.out" 2>&1 &
	local rpid=$!
	sleep 0.3
	assert_ok wl --rm --name "$cli" --network app net:1 sh -c \
		"nc -w 3 $db 6379 </dev/null; syslogd -n -R dgram:5000 & sleep 0.3; logger -t t ping-udp; sleep 0.3; cat /etc/hosts | tail -n 1; cat /etc/resolv.conf"
	wait $rpid
	assert_contains "$OUT" "hi from $db" "TCP by name"
	assert_contains "$(cat "$TDIR/udp.out")" "t: ping-udp" "UDP to an alias"
	# the default host name: the id's first 12 characters, without a
	# trailing dot or dash
	local short
	short=$(sed 's/[-.]*$//' <<<"${cli:0:12}")
	local names="$short $cli"
	[ "$short" = "$cli" ] && names=$cli
	assert_match "$OUT" "10\.89\.0\.[0-9]+	$names\$" \
		"/etc/hosts has the container's own address, host name and name"
	assert_contains "$OUT" "nameserver 10.89.0.1" "the network's DNS server"
	# a container that joins later is resolved by one that started before
	assert_ok wl -d --name "$(ctr_id late)" --network app --network-alias later net:1 sleep 30
	assert_ok wl --rm --name "$(ctr_id q)" --network app net:1 nslookup later
	assert_match "$OUT" "Address: 10\.89\.0\.[0-9]+" "a later container's alias"
	for id in "$db" "$IT_TOKEN-udp" "$IT_TOKEN-late"; do
		assert_ok wb delete -f "$id"
	done
	assert_ok wb network rm app
	world_clean
}

# Each container's names are a file of the network's DNS server, which
# reads new files and forgets removed ones by itself. Where the files are
# gone (a network from before they were kept so), the next container
# writes every container's names again.
t_network_names_rewritten_when_files_gone() {
	world_setup
	assert_ok wb network create nf
	local a
	a=$(ctr_id na)
	assert_ok wl -d --name "$a" --network nf --network-alias first net:1 sleep 30
	assert_eq "$(ls "$ROOT/.net/dns/nf/hosts.d")" "$a" "one file per container"
	rm -rf "$ROOT/.net/dns/nf/hosts.d"
	assert_ok wl --rm --name "$(ctr_id nb)" --network nf net:1 nslookup first
	assert_match "$OUT" "Address: 10\.89\.0\.[0-9]+" "an earlier container's alias, written again"
	assert_eq "$(ls "$ROOT/.net/dns/nf/hosts.d")" "$a" "the later one's file went with it"
	assert_ok wb delete -f "$a"
	assert_eq "$(ls -A "$ROOT/.net/dns/nf/hosts.d")" "" "no file left"
	assert_ok wb network rm nf
	world_clean
}

# A network's bridge, addresses and rules are made once: a later start only
# checks that the bridge is the same one, up. One removed behind berth's
# back is made again, in full, by the next start.
t_network_bridge_remade_when_gone() {
	world_setup
	assert_ok wb network create --subnet 10.89.9.0/24 gone
	assert_ok wl --rm --network gone net:1 true
	local br
	br=$(wb network ls | awk '$2 == "gone" {print $3}')
	assert_match "$br" '^br-[0-9a-f]{12}$' "the bridge's name"
	assert_ok w ip link del "$br"
	assert_ok wl --rm --network gone -p 9309:80 net:1 ip -o -4 addr show eth0
	assert_contains "$OUT" "10.89.9." "an address on the network made again"
	assert_contains "$(w ip -o -4 addr show dev "$br")" "10.89.9.1/24" \
		"the bridge is back with its gateway"
	assert_ok w nft list table ip berth
	assert_contains "$OUT" "berth:net=gone" "the network's rules are there"
	assert_not_contains "$OUT" "dport 9309" "the port's rule went with its container"
	assert_ok wb network rm gone
	world_clean
}

# A deleted container's veth leaves the bridge at once (taken down; the
# kernel removes it with the container's namespace): a successor given the
# same address, hence the same MAC, is reached at once by a container that
# knew the first.
t_network_address_reused_at_once() {
	world_setup
	assert_ok wb network create re --subnet 10.89.7.0/24
	local a b c
	a=$(ctr_id ra)
	b=$(ctr_id rb)
	c=$(ctr_id rc)
	assert_ok wl -d --name "$a" --network re --ip 10.89.7.10 net:1 \
		nc -ll -p 7000 -e echo from-a
	assert_ok wl -d --name "$c" --network re net:1 sleep 30
	sleep 0.2
	assert_ok wb exec "$c" nc -w 3 10.89.7.10 7000
	assert_eq "$OUT" "from-a" "the first container answers"
	assert_ok wb delete -f "$a"
	assert_eq "$(w ip -o link show type veth up | grep -c ' vb')" 1 \
		"the deleted container's veth is down at once"
	assert_ok wl -d --name "$b" --network re --ip 10.89.7.10 net:1 \
		nc -ll -p 7000 -e echo from-b
	sleep 0.2
	assert_ok wb exec "$c" nc -w 3 10.89.7.10 7000
	assert_eq "$OUT" "from-b" "its successor at the same address answers"
	assert_eq "$(vb_veths 2)" 2 "the first veth went with its namespace"
	assert_ok wb delete -f "$b"
	assert_ok wb delete -f "$c"
	assert_ok wb network rm re
	world_clean
}

# A released veth whose namespace something else holds (here a sleep that
# entered it) stays, down, in the bridge: network prune (the network kept,
# in use) and network rm delete such ports, and only those. Without them
# the veth stays for as long as its holder.
t_network_held_namespace_veth_swept() {
	world_setup
	assert_ok wb network create hold --subnet 10.89.8.0/24
	local a b pid holder
	a=$(ctr_id ha)
	b=$(ctr_id hb)
	assert_ok wl -d --name "$a" --network hold net:1 sleep 30
	assert_ok wl -d --name "$b" --network hold net:1 sleep 30
	pid=$(wb state "$a" | jq .pid)
	nsenter --net="/proc/$pid/ns/net" sleep 30 &
	holder=$!
	defer "kill $holder 2>/dev/null"
	sleep 0.2
	assert_ok wb delete -f "$a"
	assert_eq "$(vb_veths 2)" 2 "the held namespace keeps the first veth, down"
	assert_ok wb network prune
	assert_eq "$(vb_veths 1)" 1 "prune deletes the down veth of no endpoint"
	assert_eq "$(w ip -o link show type veth up | grep -c ' vb')" 1 "b's veth stays, up"
	assert_ok wb exec "$b" true
	pid=$(wb state "$b" | jq .pid)
	nsenter --net="/proc/$pid/ns/net" sleep 30 &
	defer "kill $! 2>/dev/null"
	sleep 0.2
	assert_ok wb delete -f "$b"
	assert_eq "$(vb_veths 1)" 1 "the held namespace keeps the second veth"
	assert_ok wb network rm hold
	assert_eq "$(vb_veths 0)" 0 "network rm deletes it"
	world_clean
}

t_network_published_ports() {
	world_setup
	local web
	web=$(ctr_id web)
	server "$web" bridge 7000
	assert_ok wb delete -f "$web"
	assert_ok wl -d --name "$web" --network bridge -p 8000:7000 -p 127.0.0.1:8001:7000 \
		net:1 sh -c "while true; do echo hi from web | nc -l -p 7000; done"
	sleep 0.2
	assert_ok wb containers
	assert_contains "$(grep "$web" <<<"$OUT")" "0.0.0.0:8000->7000/tcp, 127.0.0.1:8001->7000/tcp" \
		"containers' PORTS"
	run w "$BUSYBOX" nc -w 3 198.51.100.1 8000 </dev/null
	assert_eq "$OUT" "hi from web" "the host's address"
	run w "$BUSYBOX" nc -w 3 127.0.0.1 8000 </dev/null
	assert_eq "$OUT" "hi from web" "the host's 127.0.0.1"
	run w "$BUSYBOX" nc -w 3 127.0.0.1 8001 </dev/null
	assert_eq "$OUT" "hi from web" "published on 127.0.0.1 only"
	run o "$BUSYBOX" nc -w 3 198.51.100.1 8000 </dev/null
	assert_eq "$OUT" "hi from web" "from another host"
	run o "$BUSYBOX" nc -w 2 198.51.100.1 8001 </dev/null
	assert_eq "$OUT" "" "127.0.0.1:8001 is not reachable from another host"
	# a port in use, by a container or by a host program: refused, and
	# nothing of the refused container is left
	assert_fail_with "tcp port 8000 is published already by container $web" \
		wl --rm --network bridge -p 8000:80 net:1 true
	nsenter --net="$WORLD" "$BUSYBOX" nc -l -p 8005 </dev/null >/dev/null &
	local ncpid=$!
	defer "kill $ncpid"
	sleep 0.1
	assert_fail_with "port 0.0.0.0:8005/tcp of the host" \
		wl --rm --network bridge -p 8005:80 net:1 true
	kill $ncpid
	assert_fail_with "-p \`80:90:100:5\`" wl --rm --network bridge -p 80:90:100:5 net:1 true
	assert_fail_with "-p \`8000-8002:80-81\`" wl --rm --network bridge -p 8000-8002:80-81 net:1 true
	assert_fail_with "need a bridge network" wl --rm -p 80:90 net:1 true
	assert_eq "$(vb_veths 1)" 1 "only web's veth"
	# -P: the image's ExposedPorts on free host ports
	echo '{"tags": ["exposed:1"], "config": {"ExposedPorts": {"7000/tcp": {}}},
		"layers": [{"dir": "'"$ROOTFS"'"}]}' |
		python3 "$MKIMAGE" docker "$TDIR/exposed.tar" || fail "mkimage.py"
	assert_ok "$BERTH" image --store "$TDIR/store" load "$TDIR/exposed.tar"
	local all
	all=$(ctr_id all)
	assert_ok wl -d --name "$all" --network bridge -P exposed:1 nc -ll -p 7000 -e echo hi from all
	assert_ok wb network inspect bridge
	local port
	port=$(jq -r ".[0].Containers[\"$all\"].Ports[0]" <<<"$OUT")
	assert_match "$port" '^0\.0\.0\.0:[0-9]+->7000/tcp$' "inspect shows -P's port"
	port=${port#0.0.0.0:}
	run w "$BUSYBOX" nc -w 3 198.51.100.1 "${port%%-*}" </dev/null
	assert_eq "$OUT" "hi from all" "-P's port answers"
	assert_ok wb delete -f "$all"
	assert_ok wb delete -f "$web"
	assert_eq "$(w nft list table ip berth | grep -c 'dnat to')" 0 "web's rules go with it"
	assert_ok wb network prune
	world_clean
}

t_network_internal_and_isolation() {
	world_setup
	assert_ok wb network create --internal inner
	assert_ok wb network create other
	local a b
	a=$(ctr_id a)
	b=$(ctr_id b)
	server "$a" other 7000
	nsenter --net="$OUTSIDE" "$BUSYBOX" nc -l -p 9000 -e echo hi from outside </dev/null >/dev/null 2>&1 &
	defer "kill $!"
	sleep 0.1
	# a bridge network reaches outside through the host (masquerade)
	assert_ok wl --rm --network other net:1 nc -w 3 198.51.100.2 9000
	assert_eq "$OUT" "hi from outside" "the way out"
	# an internal one does not, and cannot reach the other network
	run wl --rm --name "$b" --network inner net:1 sh -c \
		"nc -w 2 198.51.100.2 9000 </dev/null; echo rc=\$?; nc -w 2 10.89.0.2 7000 </dev/null; echo rc=\$?"
	assert_not_contains "$OUT" "hi from" "internal: no way out, no other network"
	assert_contains "$OUT" "rc=1" "connections fail"
	assert_ok wb delete -f "$a"
	assert_ok wb network rm inner other
	world_clean
}

t_network_ipv6() {
	world_setup
	assert_ok wb network create --ipv6 fd42:89::/64 v6
	local s
	s=$(ctr_id s6)
	assert_ok wl -d --name "$s" --network v6 net:1 sh -c \
		"while true; do echo hi over v6 | nc -l -p 7000; done"
	assert_ok wl --rm --network v6 net:1 sh -c \
		"ip -6 addr show dev eth0 scope global; nc -w 3 fd42:89::2 7000 </dev/null"
	assert_match "$OUT" "inet6 fd42:89::[0-9a-f]+/64" "an IPv6 address"
	assert_contains "$OUT" "hi over v6" "IPv6 between containers"
	assert_ok wb network inspect v6
	assert_eq "$(jq -r '.[0].Containers[].IPv6Address' <<<"$OUT")" "fd42:89::2/64" "inspect"
	assert_ok wb delete -f "$s"
	assert_ok wb network rm v6
	world_clean
}

t_network_files_every_container_gets() {
	world_setup
	# none: localhost, its own name, the host's reachable servers
	printf 'nameserver 127.0.0.53\nnameserver 198.51.100.53\nsearch example.test\n' \
		>"$TDIR/resolv.conf"
	mount --bind "$TDIR/resolv.conf" /etc/resolv.conf 2>/dev/null ||
		skip "cannot bind a test resolv.conf"
	defer "umount -l /etc/resolv.conf"
	run wl --rm --hostname box --add-host db.test:10.1.2.3 --dns-search s.test net:1 sh -c \
		'cat /etc/hosts /etc/hostname /etc/resolv.conf; hostname'
	umount -l /etc/resolv.conf
	assert_contains "$OUT" "127.0.0.1	localhost" "localhost"
	assert_contains "$OUT" "::1	localhost" "::1"
	assert_contains "$OUT" "127.0.1.1	box" "its own name"
	assert_contains "$OUT" "10.1.2.3	db.test" "--add-host"
	assert_contains "$OUT" "nameserver 198.51.100.53" "the host's server"
	assert_not_contains "$OUT" "127.0.0.53" "no loopback resolver"
	assert_contains "$OUT" "search s.test" "--dns-search"
	assert_eq "$(tail -n 1 <<<"$OUT")" box "hostname"
	# a file the caller binds there wins
	echo "10.9.9.9 mine" >"$TDIR/myhosts"
	run wl --rm -v "$TDIR/myhosts:/etc/hosts:ro" net:1 cat /etc/hosts
	assert_eq "$OUT" "10.9.9.9 mine" "a bind-mounted /etc/hosts is kept"
	run wl --rm --network host net:1 cat /etc/hosts
	assert_eq "$OUT" "$(cat /etc/hosts)" "host: the host's /etc/hosts"
	world_clean
}

t_network_concurrent_starts_distinct_addresses() {
	world_setup
	assert_ok wb network create --subnet 10.66.0.0/24 many
	local i pids=""
	for i in $(seq 20); do
		wl -d --name "$(ctr_id c$i)" --network many net:1 sleep 30 >/dev/null 2>"$TDIR/err.$i" &
		pids="$pids $!"
	done
	local failed=0
	for i in $pids; do wait "$i" || failed=$((failed + 1)); done
	assert_eq "$failed" 0 "20 concurrent starts ($(cat "$TDIR"/err.* | grep -v "note:" | head -n 2))"
	assert_ok wb network inspect many
	assert_eq "$(jq -r '.[0].Containers[].IPv4Address' <<<"$OUT" | sort -u | wc -l)" 20 \
		"20 distinct addresses"
	for i in $(seq 20); do wb delete -f "$IT_TOKEN-c$i" >/dev/null; done
	assert_ok wb network rm many
	world_clean
}

t_network_bad_addresses() {
	world_setup
	assert_ok wb network create --subnet 10.55.0.0/30 tiny
	local a
	a=$(ctr_id a)
	assert_fail_with "outside" wl --rm --network tiny --ip 10.56.0.9 net:1 true
	assert_ok wl -d --name "$a" --network tiny --ip 10.55.0.2 net:1 sleep 30
	assert_fail_with "10.55.0.2" wl --rm --network tiny --ip 10.55.0.2 net:1 true
	# /30: the gateway and one container
	assert_fail_with "no free address in subnet 10.55.0.0/30" wl --rm --network tiny net:1 true
	assert_fail_with "network nope not found" wl --rm --network nope net:1 true
	assert_fail_with "container with id exists: $a" \
		wl --rm --name "$a" --network tiny net:1 true
	# a name another container answers to on the network
	assert_ok wb network create other
	local b
	b=$(ctr_id b)
	assert_ok wl -d --name "$b" --network other --network-alias "$IT_TOKEN-dup" net:1 sleep 30
	assert_fail_with "name $IT_TOKEN-dup is taken on network other by container $b" \
		wl --rm --name "$IT_TOKEN-dup" --network other net:1 true
	assert_ok wb delete -f "$b"
	assert_ok wb network rm other
	assert_eq "$(vb_veths 1)" 1 "only a's veth"
	assert_ok wb delete -f "$a"
	assert_ok wb network rm tiny
	world_clean
}

t_network_sigkill_mid_create_is_cleaned_up() {
	world_setup
	assert_ok wb network create k
	local i n=0
	for i in $(seq 16); do
		wl -d --name "$(ctr_id k$i)" --network k -p "$((9400 + i)):80" \
			net:1 sleep 30 >/dev/null 2>&1 &
		local pid=$!
		sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
		pkill -KILL -P "$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		wb delete -f "$IT_TOKEN-k$i" >/dev/null 2>&1
		n=$((n + 1))
	done
	# a launch killed after its monitor took over still starts its
	# container, maybe after the delete above (seconds later on a busy
	# machine): deleted again until none has come for a second
	local t quiet=0
	for t in $(seq 50); do
		sleep 0.1
		if [ -n "$(ls -d "$ROOT/$IT_TOKEN-k"* 2>/dev/null)" ]; then
			quiet=0
			for i in $(seq 16); do
				wb delete -f "$IT_TOKEN-k$i" >/dev/null 2>&1
			done
		else
			quiet=$((quiet + 1))
			[ "$quiet" -ge 10 ] && break
		fi
	done
	# the next command on the network finds what the dead ones left, and
	# the next launch the bundles of those killed before their state
	assert_ok wl --rm net:1 true
	assert_eq "$(ls -A "$TDIR/store/containers")" "" "launch bundles left"
	assert_eq "$(grep -c "$TDIR/store/containers" /proc/self/mountinfo)" 0 "bundle mounts left"
	assert_ok wb network ls
	assert_match "$OUT" 'k +br-[0-9a-f]{12} +10\.89\.0\.0/24 +0 ' "no endpoint left on k"
	assert_eq "$(vb_veths 0)" 0 "no veth left"
	assert_eq "$(w nft list table ip berth | grep -c 'berth:ctr=')" 0 "no port rule left"
	assert_ok wb network rm k
	world_clean
}

t_network_job_groups_reach_each_other() {
	world_setup
	jq -nc --arg tok "$IT_TOKEN" --arg store "$TDIR/store" '{name: "j\($tok)",
		store: $store, cgroup_parent: ("berth-test-" + $tok),
		queues: {tasks: {args: ["1", "2", "3", "4"]}},
		groups: [
		 {name: "db", image: "net:1", env: {BERTH_IT: $tok}, ports: ["9100:7000"],
		  command: ["nc", "-ll", "-p", "7000", "-e", "echo", "db-answers"]},
		 {name: "workers", image: "net:1", count: 2, consumes: "tasks", env: {BERTH_IT: $tok},
		  command: ["sh", "-c", "sleep 1.5; echo {} $(nc -w 3 db 7000 </dev/null) $(hostname)"]}]}' \
		>"$TDIR/j.json"
	local name=j$IT_TOKEN
	defer "nsenter --net=$WORLD $BERTH --root $ROOT job stop $name; nsenter --net=$WORLD $BERTH --root $ROOT job rm $name"
	assert_ok wb job run -d "$TDIR/j.json"
	local n
	for n in $(seq 100); do
		run wb job ps "$name"
		[ "$(grep -c ' running .* 10\.89\.0\.' <<<"$OUT")" = 3 ] && break
		sleep 0.1
	done
	assert_match "$OUT" "db +db\.0 +running .* 10\.89\.0\.[0-9]+" "job ps shows the service's address"
	assert_match "$OUT" "workers +w[01] +running .* 10\.89\.0\.[0-9]+" "and the workers'"
	run w "$BUSYBOX" nc -w 3 198.51.100.1 9100 </dev/null
	assert_eq "$OUT" "db-answers" "a group's published port"
	assert_ok wb network ls
	assert_match "$OUT" "${name}_default" "the job's own network"
	for n in $(seq 100); do
		[ -e "$ROOT/jobs/$name/runner.pid" ] || break
		sleep 0.1
	done
	assert_eq "$(sort "$ROOT/jobs/$name/results/tasks.out" | cut -d' ' -f1,2 | tr '\n' ' ')" \
		"1 db-answers 2 db-answers 3 db-answers 4 db-answers " "the workers reach db by its group name"
	assert_ok wb network ls -q
	assert_eq "$OUT" "" "the job's network goes with it"
	assert_ok wb job rm "$name"
	world_clean
}

t_network_cni() {
	world_setup
	[ -x /usr/lib/cni/bridge ] || sh "$IT_LIB_DIR/../deps.sh" containernetworking-plugins \
		>/dev/null 2>&1 || skip "containernetworking-plugins cannot be installed"
	mkdir -p "$TDIR/cni"
	jq -n --arg data "$TDIR/cni-data" '{cniVersion: "1.0.0", name: "cninet", plugins: [
		{type: "bridge", bridge: "cnibr0", isGateway: true, ipMasq: true,
		 ipam: {type: "host-local", ranges: [[{subnet: "10.44.0.0/24"}]],
			routes: [{dst: "0.0.0.0/0"}], dataDir: $data}},
		{type: "portmap", capabilities: {portMappings: true}}]}' >"$TDIR/cni/10-cninet.conflist"
	jq -n '{cniVersion: "1.0.0", name: "odd", plugins: [{type: "no-such-plugin"}]}' \
		>"$TDIR/cni/20-odd.conflist"
	export NETCONFPATH=$TDIR/cni
	local s
	s=$(ctr_id cs)
	assert_ok wl -d --name "$s" --network cni:cninet -p 9200:7000 net:1 \
		nc -ll -p 7000 -e echo hi over cni
	assert_ok wl --rm --network cni:cninet net:1 sh -c \
		'ip -4 -o addr show eth0; nc -w 3 10.44.0.2 7000 </dev/null'
	assert_match "$OUT" "inet 10\.44\.0\.[0-9]+/24" "an address from host-local"
	assert_contains "$OUT" "hi over cni" "two containers on a CNI network"
	run w "$BUSYBOX" nc -w 3 198.51.100.1 9200 </dev/null
	assert_eq "$OUT" "hi over cni" "a port published by the portmap plugin"
	assert_eq "$(ls "$TDIR/cni-data/cninet" | grep -c '^10\.44')" 1 "one lease while one runs"
	assert_ok wb delete -f "$s"
	assert_eq "$(ls "$TDIR/cni-data/cninet" | grep -c '^10\.44')" 0 "DEL freed the lease"
	assert_eq "$(w ip -o link show type veth | grep -vc ' wan0@')" 0 "DEL removed the veth"
	assert_fail_with "no-such-plugin" wl --rm --network cni:odd net:1 true
	assert_fail_with "CNI network nothere: no configuration of that name in $TDIR/cni" \
		wl --rm --network cni:nothere net:1 true
	w ip link del cnibr0 2>/dev/null
	world_clean
}

t_network_par_workers_leave_nothing() {
	world_setup
	assert_ok wb network create pn
	local s
	s=$(ctr_id psrv)
	assert_ok wl -d --name "$s" --network pn --network-alias svc net:1 \
		nc -ll -p 7000 -e echo from-svc
	assert_ok wb par --quiet --rootfs "$ROOTFS" --cgroup-parent "berth-test-$IT_TOKEN" \
		-e "BERTH_IT=$IT_TOKEN" -j 2 --network pn -- sh -c 'echo {} $(nc -w 3 svc 7000 </dev/null)' ::: 1 2 3
	assert_eq "$(sort <<<"$OUT" | tr '\n' ' ')" "1 from-svc 2 from-svc 3 from-svc " \
		"par's workers reach a service by its alias"
	assert_eq "$(ls "$ROOT/.net/endpoints" | grep -c par-)" 0 "the workers' endpoints went with them"
	assert_eq "$(vb_veths 1)" 1 "only the service's veth"
	assert_ok wb delete -f "$s"
	assert_ok wb network rm pn
	world_clean
}
