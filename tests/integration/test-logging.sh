# Global flags: --log/--log-format, --version, unknown flags, flags after
# the command.

t_log_json_on_failure() {
	local log=$TDIR/log.json
	run "$BERTH" --root "$ROOT" --log "$log" --log-format json state "$IT_TOKEN-none"
	assert_eq "$RC" 1 "state of a missing container"
	[ -s "$log" ] || fail "nothing written to --log"
	# Every line is a JSON object; the last one is the error.
	jq -e -s 'length > 0' "$log" >/dev/null || fail "log is not JSON lines: $(head -c 200 "$log")"
	assert_eq "$(jq -r -s '.[-1].level' "$log")" error "level of the last log line"
	assert_contains "$(jq -r -s '.[-1].msg' "$log")" "does not exist" "msg of the last log line"
	assert_match "$(jq -r -s '.[-1].time' "$log")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "time of the last log line"
}

t_log_json_create_failure() {
	local id log=$TDIR/log.json
	id=$(new_id logfail)
	mkbundle "$id"
	cfg "$id" '.root.path = "/no/such/rootfs"'
	run "$BERTH" --root "$ROOT" --log "$log" --log-format json create \
		--bundle "$(bundle_of "$id")" "$id"
	assert_eq "$RC" 1 "create with a missing rootfs"
	assert_eq "$(jq -r -s 'map(select(.level == "error")) | length > 0' "$log")" true "an error line in the log"
	assert_contains "$(jq -r -s 'map(select(.level == "error"))[-1].msg' "$log")" \
		/no/such/rootfs "error message in the log"
}

t_log_text() {
	local log=$TDIR/log.txt
	run "$BERTH" --root "$ROOT" --log "$log" state "$IT_TOKEN-none"
	assert_eq "$RC" 1 "state of a missing container"
	assert_contains "$(cat "$log")" "does not exist" "text log"
}

t_log_appends() {
	local log=$TDIR/log.json
	echo '{"level":"info","msg":"before"}' >"$log"
	run "$BERTH" --root "$ROOT" --log "$log" --log-format json state "$IT_TOKEN-none"
	assert_eq "$(jq -r -s '.[0].msg' "$log")" before "--log appends"
	assert_eq "$(jq -r -s 'length' "$log")" 2 "lines after one error"
}

t_version() {
	assert_ok "$BERTH" --version
	assert_match "$(sed -n 1p <<<"$OUT")" '^(berth|runc|crun) version ' "first line of --version"
	assert_match "$OUT" '^spec: 1\.[0-9]+\.[0-9]+' "spec line of --version"
	if [ "$IT_IS_BERTH" = 1 ]; then
		assert_eq "$OUT" "$(printf 'berth version 0.1.0\nspec: 1.2.0')" "berth --version"
	fi
	assert_ok "$BERTH" -v
	assert_match "$(sed -n 1p <<<"$OUT")" ' version ' "-v"
}

t_unknown_flag() {
	assert_fail_with "" "$BERTH" --no-such-flag list
	assert_fail_with "" "$BERTH" --root "$ROOT" list --no-such-flag
	run "$BERTH" --root "$ROOT" no-such-command
	assert_eq "$RC" "$(berth_or 1 3)" "exit status of an unknown command"
	assert_fail_with "" "$BERTH" --root "$ROOT" kill
}

t_global_flags_after_command() {
	berth_only "runc takes global flags only before the command"
	local id
	id=$(new_id late)
	mkbundle "$id"
	"$BERTH" create --root "$ROOT" --bundle "$(bundle_of "$id")" "$id" \
		</dev/null >/dev/null 2>"$TDIR/err" || fail "create --root: $(last_line "$(cat "$TDIR/err")")"
	assert_ok "$BERTH" state --root "$ROOT" "$id"
	assert_eq "$(jq -r .status <<<"$OUT")" created "state --root R ID"
	assert_ok "$BERTH" delete --root "$ROOT" --log "$TDIR/log" --log-format json "$id"
	assert_gone "$id"
}

t_help() {
	assert_ok "$BERTH" --help
	assert_contains "$OUT" create "--help lists create"
	assert_contains "$OUT" exec "--help lists exec"
}
