#!/usr/bin/env bats
# imgtool validate: the recipe language, its schema, and every refusal.
#
# Each tests/fixtures/bad/NAME.xml comes with NAME.expected, the exact line
# that `imgtool validate tests/fixtures/bad/NAME.xml` prints on stderr.

bats_require_minimum_version 1.5.0

load helpers

BAD=tests/fixtures/bad
GOOD=tests/fixtures/good

# Validates $1 (relative to the repository root), stdout and stderr apart.
validate() {
	run --separate-stderr imgtool validate "$@"
}

# Checks that bad fixture $1 is refused with status 3 and its message.
assert_refused() {
	validate "$BAD/$1.xml"
	assert_equal "$status" 3
	assert_equal "$output" ""
	assert_equal "$stderr" "$(cat "$ROOT/$BAD/$1.expected")"
}

@test "every bad recipe is refused with status 3 and exactly its message" {
	local xml name n=0 failures=""

	for xml in "$ROOT/$BAD"/*.xml; do
		name=$(basename "$xml" .xml)
		n=$((n + 1))
		validate "$BAD/$name.xml"
		if [ "$status" -ne 3 ] || [ -n "$output" ] ||
		   [ "$stderr" != "$(cat "$ROOT/$BAD/$name.expected")" ]; then
			failures="$failures
$name: status $status, stderr: $stderr"
		fi
	done
	[ -z "$failures" ] || fail "mismatches:$failures"
	[ "$n" -ge 34 ] || fail "only $n bad fixtures"
}

@test "every bad fixture has an expected message and every message a fixture" {
	local f

	for f in "$ROOT/$BAD"/*.xml; do
		assert_file_exists "${f%.xml}.expected"
	done
	for f in "$ROOT/$BAD"/*.expected; do
		assert_file_exists "${f%.expected}.xml"
		# One line, naming the fixture as it was passed.
		assert_equal "$(wc -l < "$f")" 1
		assert_equal "$(head -c ${#BAD} "$f")" "$BAD"
	done
}

@test "every good recipe validates silently with status 0" {
	local xml

	for xml in "$ROOT/$GOOD"/*.xml; do
		validate "$GOOD/$(basename "$xml")"
		assert_equal "$status" 0
		assert_equal "$output" ""
		assert_equal "$stderr" ""
	done
}

@test "recipes/web.xml validates" {
	validate recipes/web.xml
	assert_equal "$status" 0
	assert_equal "$stderr" ""
}

@test "every example recipe validates" {
	local xml

	for xml in "$ROOT"/recipes/*.xml; do
		validate "recipes/$(basename "$xml")"
		assert_equal "$status" 0
		assert_equal "$stderr" ""
	done
}

@test "the good recipes match the schema under xmllint too" {
	command -v xmllint >/dev/null || skip "xmllint is not installed"
	local xml

	for xml in "$ROOT/$GOOD"/*.xml "$ROOT"/recipes/*.xml; do
		run xmllint --noout --xinclude --noxincludenode \
			--relaxng "$ROOT/builder/recipe.rng" "$xml"
		assert_success
	done
}

@test "validate without a recipe is a usage error (status 2)" {
	validate
	assert_equal "$status" 2
}

@test "validate with two recipes is a usage error (status 2)" {
	validate "$GOOD/minimal.xml" "$GOOD/full.xml"
	assert_equal "$status" 2
}

@test "a recipe that does not exist fails with status 1 and names it" {
	validate "$GOOD/no-such-recipe.xml"
	assert_equal "$status" 1
	assert_equal "$stderr" "imgtool: $GOOD/no-such-recipe.xml: cannot read: no such file or directory"
}

@test "an external entity (XXE) is refused and /etc/passwd is not read" {
	assert_refused xxe-passwd
	refute_output --partial "root:"
	[[ "$stderr" != *root:* ]]
	if command -v strace >/dev/null; then
		run strace -f -e trace=open,openat -o "$BATS_TEST_TMPDIR/trace" \
			"$IMGTOOL" validate "$ROOT/$BAD/xxe-passwd.xml"
		assert_equal "$status" 3
		run grep -c /etc/passwd "$BATS_TEST_TMPDIR/trace"
		assert_output 0
	fi
}

# A TCP listener on 127.0.0.1 that logs each connection to $W/listener.log;
# sets LPORT and LISTENER (its PID).
start_listener() {
	local i
	for i in $(seq 20); do
		LPORT=$((10000 + ($$ + i * 131) % 20000))
		tcpserver -v -R -H -l 0 127.0.0.1 "$LPORT" true \
			</dev/null >/dev/null 2>"$W/listener.log" 3>&- &
		LISTENER=$!
		for _ in $(seq 50); do
			grep -q '^tcpserver: status:' "$W/listener.log" && return 0
			kill -0 "$LISTENER" 2>/dev/null || break
			sleep 0.1
		done
		kill "$LISTENER" 2>/dev/null
		wait "$LISTENER" 2>/dev/null
		LISTENER=
	done
	cat "$W/listener.log" >&2
	return 1
}

# How many connections the listener took.
connections() {
	grep -c '^tcpserver: pid [0-9]* from ' "$W/listener.log"
}

teardown() {
	if [ -n "${LISTENER:-}" ]; then
		kill "$LISTENER" 2>/dev/null || true
		wait "$LISTENER" 2>/dev/null || true
	fi
}

@test "an external DTD is refused without touching the network" {
	assert_refused xxe-parameter
	# The same recipe with its DTD at a listener of ours: nobody comes.
	W=$(workdir)
	start_listener
	sed "s|http://127.0.0.1:9/|http://127.0.0.1:$LPORT/|" \
		"$ROOT/$BAD/xxe-parameter.xml" >"$W/xxe.xml"
	grep -qF "127.0.0.1:$LPORT/evil.dtd" "$W/xxe.xml"
	run --separate-stderr "$IMGTOOL" validate "$W/xxe.xml"
	assert_equal "$status" 3
	[[ "$stderr" == *"document type declaration (DOCTYPE) is not allowed"* ]]
	# A connection would have been seen: ours is.
	(exec 3<>"/dev/tcp/127.0.0.1/$LPORT")
	for _ in $(seq 50); do
		[ "$(connections)" -eq 0 ] || break
		sleep 0.1
	done
	run connections
	assert_output 1
	# Nor any other address: not one Internet socket (where strace is).
	if command -v strace >/dev/null; then
		run strace -f -e trace=socket,connect -o "$BATS_TEST_TMPDIR/trace" \
			"$IMGTOOL" validate "$W/xxe.xml"
		assert_equal "$status" 3
		run grep -E 'AF_INET|AF_INET6' "$BATS_TEST_TMPDIR/trace"
		assert_failure
	fi
}

@test "billion laughs is refused at the DOCTYPE, before any expansion" {
	run --separate-stderr timeout 10 "$IMGTOOL" validate "$ROOT/$BAD/billion-laughs.xml"
	assert_equal "$status" 3
	[[ "$stderr" == *"document type declaration (DOCTYPE) is not allowed"* ]]
}

@test "a DOCTYPE in an included fragment is refused too" {
	assert_refused include-doctype-fragment
}

@test "the service never runs as root" {
	assert_refused service-user-root
	assert_refused user-uid-zero
	assert_refused user-root
}

@test "overlapping writable areas are refused" {
	assert_refused overlapping-writables
	assert_refused duplicate-writable
	assert_refused writable-root
}

@test "an include of a missing file names that file" {
	assert_refused include-missing
	[[ "$stderr" == *'"tests/fixtures/bad/parts/no-such-fragment.xml"'* ]]
}

@test "an include over http is refused" {
	assert_refused include-http
}

@test "an include loop is refused" {
	assert_refused include-cycle
}

@test "an error in an included fragment names the fragment and its line" {
	assert_refused include-broken-fragment
	assert_equal "$stderr" "$BAD/parts/broken.xml:4: program: path \"bin/busybox\" is not an absolute path"
}

@test "messages name the recipe as it was given: an absolute path stays absolute" {
	run --separate-stderr "$IMGTOOL" validate "$ROOT/$BAD/bad-size.xml"
	assert_equal "$status" 3
	assert_equal "$stderr" "$ROOT/$BAD/bad-size.xml:5: writable: size \"16Q\" is not a size (such as 512K, 16M or 2G)"
}

@test "a multi-line start tag is reported at the line where it begins" {
	local w
	w=$(workdir)
	cat > "$w/r.xml" <<-'EOF'
	<recipe name="r" version="1">
	  <contents/>
	  <writable
	      path="/var/log/app"
	      kind="log"
	      size="1Q"/>
	</recipe>
	EOF
	run --separate-stderr "$IMGTOOL" validate "$w/r.xml"
	assert_equal "$status" 3
	assert_equal "$stderr" "$w/r.xml:3: writable: size \"1Q\" is not a size (such as 512K, 16M or 2G)"
}

@test "a recipe larger than 1 MiB is refused before parsing" {
	local w
	w=$(workdir)
	{
		echo '<recipe name="big" version="1"><contents>'
		head -c 1100000 /dev/zero | tr '\0' ' '
		echo '</contents></recipe>'
	} > "$w/big.xml"
	run --separate-stderr "$IMGTOOL" validate "$w/big.xml"
	assert_equal "$status" 3
	assert_equal "$stderr" "$w/big.xml: larger than 1048576 bytes"
}

@test "more than 4096 items are refused" {
	local w i
	w=$(workdir)
	{
		echo '<recipe name="many" version="1"><contents>'
		for i in $(seq 0 4096); do echo "<dir path=\"/d$i\"/>"; done
		echo '</contents></recipe>'
	} > "$w/many.xml"
	run --separate-stderr "$IMGTOOL" validate "$w/many.xml"
	assert_equal "$status" 3
	assert_equal "$stderr" "$w/many.xml:4098: dir: more than 4096 items"
}

@test "templates/busybox.xml is a fragment that <contents> can include" {
	local w
	w=$(workdir)
	cat > "$w/r.xml" <<-EOF
	<recipe name="r" version="1" xmlns:xi="http://www.w3.org/2001/XInclude">
	  <contents>
	    <xi:include href="$ROOT/templates/busybox.xml"/>
	  </contents>
	</recipe>
	EOF
	run --separate-stderr "$IMGTOOL" validate "$w/r.xml"
	assert_equal "$status" 0
	assert_equal "$stderr" ""
}

@test "the schema is found next to a developer build without IMGTOOL_SCHEMA" {
	[ -f "$ROOT/build/share/recipe.rng" ] || skip "no build/share/recipe.rng (run make)"
	run --separate-stderr env -u IMGTOOL_SCHEMA "$IMGTOOL" validate "$ROOT/$GOOD/minimal.xml"
	assert_equal "$status" 0
	assert_equal "$stderr" ""
}

@test "a schema that cannot be read fails with status 1" {
	run --separate-stderr env IMGTOOL_SCHEMA=/nonexistent/recipe.rng \
		"$IMGTOOL" validate "$ROOT/$GOOD/minimal.xml"
	assert_equal "$status" 1
	assert_equal "$stderr" "imgtool: /nonexistent/recipe.rng: cannot read the recipe schema: no such file or directory"
}
