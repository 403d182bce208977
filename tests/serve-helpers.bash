# Helpers of the supervisor suites: start imgsupd, talk to it, stop it.

# A port of our own per test, so that tests never meet each other's
# connections in TIME_WAIT.
# Below the ephemeral range (32768 up), so no client's port can hold it.
# A port in 10000-29999 that nothing listens on now. Random rather than
# derived from the PID and the test number: two test runs at once (two clones)
# had the same formula collide; a random pick that is checked against the
# listening sockets makes that a one-in-thousands chance, not a pattern.
pick_port() {
	local p
	for _ in $(seq 50); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % 20000))
		ss -Hltnu "sport = :$p" 2>/dev/null | grep -q . || break
	done
	echo "$p"
}

# Builds a fixture recipe (tests/fixtures/serve/NAME.xml) into $W/out.
build_fixture() {
	"$IMGTOOL" build -q -o "$W/out" "$ROOT/tests/fixtures/serve/$1.xml"
}

# Starts imgtool serve "$@" in the background on a port of this test, its
# stderr in $W/server.log, and waits (TENTHS tenths of a second at most)
# until the command READY succeeds.
launch_server() {
	local tenths=$1 ready=$2
	shift 2
	PORT=$(pick_port)
	"$IMGTOOL" serve "$@" --listen "127.0.0.1:$PORT" 2>"$W/server.log" &
	SERVER=$!
	for _ in $(seq "$tenths"); do
		"$ready" && return 0
		kill -0 "$SERVER" 2>/dev/null || break
		sleep 0.1
	done
	cat "$W/server.log" >&2
	return 1
}

# Whether the server takes a connection (which is a served instance too).
takes_connection() {
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && sleep 0.2
}

# Starts the supervisor in the background and waits until it listens.
start_server() {
	launch_server 100 takes_connection "$@"
}

stop_server() {
	[ -n "${SERVER:-}" ] || return 0
	kill -TERM "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
	SERVER=
}

# Sends one line to the server and prints the answer (at most 10 s).
ask() {
	timeout 10 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "%s\n" "$2" >&3
		cat <&3' _ "$PORT" "$*"
}

# GET a path over HTTP/1.0 and print the whole response.
http_get() {
	timeout 10 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$2" >&3
		cat <&3' _ "$PORT" "$1"
}

# Whether a VM of the server's pool is ready.
vm_ready() {
	grep -q 'event=ready' "$W/server.log"
}

# Starts imgsupd on a VM image and waits until a VM of its pool is ready
# (at most 90 s: a boot under TCG takes a few seconds, more on a busy
# machine). No probe connection: that would open a session of its own.
start_vm_server() {
	launch_server 900 vm_ready "$@"
}

# Waits (at most 60 s) until the server log has a line matching $1.
wait_log() {
	for _ in $(seq 600); do
		grep -qE "$1" "$W/server.log" && return 0
		sleep 0.1
	done
	cat "$W/server.log" >&2
	return 1
}

# ask, with time for a VM to boot when none is ready.
vm_ask() {
	timeout 60 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "%s\n" "$2" >&3
		cat <&3' _ "$PORT" "$*"
}
