#!/bin/sh
# The rule of layers: base <- oci, cgroups, netns <- runtime <- dist <- engine
# <- cli.
# A module may include only its own headers and those of the modules below.
fail=0
allowed() {
	case "$1" in
	base) echo "base" ;;
	oci | cgroups | netns) echo "base $1" ;;
	runtime) echo "base oci cgroups netns runtime" ;;
	dist) echo "base oci cgroups netns runtime dist" ;;
	engine) echo "base oci cgroups netns runtime dist engine" ;;
	cli) echo "base oci cgroups netns runtime dist engine cli" ;;
	esac
}
for m in base oci cgroups netns runtime dist engine cli; do
	[ -d "$m" ] || continue
	ok=$(allowed $m)
	for inc in $(grep -ho '#include "[a-z]*/' $m/*.[ch] 2>/dev/null | sed 's/#include "//; s|/||' | sort -u); do
		case " $ok " in
		*" $inc "*) ;;
		*) echo "layering: $m/ includes $inc/ headers" >&2; fail=1 ;;
		esac
	done
done
exit $fail
