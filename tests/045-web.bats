#!/usr/bin/env bats
# The defaceless web server end to end: recipes/web.xml under imgsupd.

load helpers
load serve-helpers

setup() {
	W=$(workdir)
	"$IMGTOOL" build -q -o "$W/out" "$ROOT/recipes/web.xml"
	start_server "$W/out/web.erofs"
}

teardown() {
	stop_server
}

@test "a page is served" {
	run http_get /
	assert_success
	assert_line --index 0 --regexp '^HTTP/1\.[01] 200 OK'
	assert_output --partial "Served from a read-only jail"
}

@test "the access log grows with every request and persists" {
	http_get / >/dev/null
	http_get /robots.txt >/dev/null
	http_get /missing >/dev/null
	stop_server
	run "$IMGTOOL" logs "$W/out/web.erofs"
	assert_success
	assert_output --partial "==> /var/log/httpd/access.log <=="
	assert_output --partial "url:/robots.txt"
	assert_output --partial "response:404"
}

@test "imgtool logs shows the access log live while the server runs" {
	http_get /robots.txt >/dev/null
	run "$IMGTOOL" logs "$W/out/web.erofs"
	assert_success
	assert_output --partial "url:/robots.txt"
}

@test "as many parallel connections as the per-client cap are each served" {
	clients=
	for i in $(seq 8); do
		http_get / >"$W/r$i" &
		clients="$clients $!"
	done
	# shellcheck disable=SC2086 # one pid per word
	wait $clients
	for i in $(seq 8); do
		run grep -c "Served from a read-only jail" "$W/r$i"
		assert_output 1
	done
}
