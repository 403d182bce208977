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

@test "as many parallel connections as the per-client cap are served at once" {
	# recipes/web.xml and a CGI that answers only once 8 requests are in
	# it together: served one after another, the first would wait in vain.
	stop_server
	sed -e "s|href=\"\.\./templates/|href=\"$ROOT/templates/|" \
		-e "s|src=\"web/site\"|src=\"$ROOT/recipes/web/site\"|" \
		-e "s|</contents>|<file dest=\"/www/cgi-bin/together\" mode=\"0755\" src=\"$ROOT/tests/fixtures/serve/together.cgi\"/></contents>|" \
		"$ROOT/recipes/web.xml" >"$W/together.xml"
	"$IMGTOOL" build -q -o "$W/together" "$W/together.xml"
	start_server "$W/together/web.erofs"
	clients=
	for i in $(seq 8); do
		http_get "/cgi-bin/together?8" >"$W/r$i" &
		clients="$clients $!"
	done
	# shellcheck disable=SC2086 # one pid per word
	wait $clients
	for i in $(seq 8); do
		run cat "$W/r$i"
		assert_line --index 0 --regexp '^HTTP/1\.[01] 200 OK'
		assert_line "8 requests inside at once"
	done
}

@test "a client as busy as its per-client cap, never over it, is never refused" {
	command -v ab >/dev/null || skip "ab (apache2-utils) is not installed"
	stop_server
	start_server --per-client 2 "$W/out/web.erofs"
	# ab opens its next connection the moment the last one closed: the
	# supervisor must have let go of it by then.
	run ab -n 2000 -c 2 "http://127.0.0.1:$PORT/"
	assert_success
	assert_line --regexp '^Complete requests: +2000$'
	assert_line --regexp '^Failed requests: +0$'
	refute_output --partial "Non-2xx"
	run grep -E 'event=refused' "$W/server.log"
	assert_output ""
}
