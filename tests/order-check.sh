#!/bin/sh
# order-check.sh BERTH ORDER: every entry of the link-order profile still
# names something, so that a renamed function cannot drop silently out of
# the hot text (`make profile-order` rewrites the profile).
berth=$1 order=$2
arch=$(cc -print-multiarch 2>/dev/null)
nm --defined-only "$berth" | awk '$2 ~ /^[tTwW]$/ { print $3 }' |
	sed -E 's/\.(constprop|isra|part|lto_priv)\.[0-9]+.*$|\.(cold|localalias)$//' |
	sort -u >"$berth.syms" || exit 1
fail=0
for e in $(grep -v '^#' "$order"); do
	case "$e" in
	*.a:*)
		a=/usr/lib/$arch/${e%%:*}
		[ -f "$a" ] || continue # linked shared: nothing to place
		ar t "$a" | grep -qx "${e#*:}" && continue ;;
	*.o)
		[ -f "${e%.o}.c" ] && continue ;;
	*)
		grep -qx "$e" "$berth.syms" && continue ;;
	esac
	echo "order-check: $order names \`$e\`, which berth no longer has" >&2
	fail=1
done
rm -f "$berth.syms"
[ $fail = 0 ] && echo "order-check: $(grep -vc '^#' "$order") entries found"
exit $fail
