#!/usr/bin/env bats
# imgsupd with recycle="interval": recipes/web-daily.xml (lighttpd, which
# takes the listening socket by the systemd convention), recycled every 2 s.

load helpers
load serve-helpers

# Builds recipes/web-daily.xml with the period $1 and a grace of 3 s into
# $W/$2.
build_daily() {
	sed -e "s/period=\"24h\"/period=\"$1\"/" -e 's/grace="5s"/grace="3s"/' \
		-e "s|src=\"web|src=\"$ROOT/recipes/web|g" \
		"$ROOT/recipes/web-daily.xml" >"$W/daily-$1.xml"
	"$IMGTOOL" build -q -o "$W/$2" "$W/daily-$1.xml"
}

setup() {
	W=$(workdir)
	build_daily 2s out
	start_server "$W/out/web-daily.erofs"
}

teardown() {
	stop_server
}

@test "the long-running instance serves from the inherited socket" {
	run http_get /
	assert_line --index 0 --regexp '^HTTP/1\.[01] 200 OK'
	assert_output --partial "Served from a read-only jail"
}

@test "no connection is refused through several recycles" {
	end=$(($(date +%s) + 7))
	ok=0 failed=0
	while [ "$(date +%s)" -lt "$end" ]; do
		if http_get / | grep -q "Served from a read-only jail"; then
			ok=$((ok + 1))
		else
			failed=$((failed + 1))
		fi
	done
	echo "ok=$ok failed=$failed" >&3
	assert [ "$failed" -eq 0 ]
	assert [ "$ok" -gt 20 ]
	run grep -c 'event=handover instance=[0-9]* old=[1-9]' "$W/server.log"
	assert [ "$output" -ge 2 ]
	run grep -E 'event=end .*recycle=interval .*reason=recycled' "$W/server.log"
	assert_success
}

@test "SIGHUP recycles now" {
	# A period of a day: any handover but the first is SIGHUP's.
	stop_server
	build_daily 24h day
	start_server "$W/day/web-daily.erofs"
	# The first instance has the socket: a SIGHUP before would find the
	# first period still starting, and nothing to recycle.
	wait_log 'event=handover instance=[0-9]+ old=0$'
	kill -HUP "$SERVER"
	wait_log 'event=recycle reason=sighup$'
	wait_log 'event=handover instance=[0-9]+ old=[1-9][0-9]*$'
	wait_log 'event=end .*recycle=interval .*reason=recycled$'
	run grep -c 'event=handover' "$W/server.log"
	assert_output 2
	run http_get /
	assert_output --partial "Served from a read-only jail"
}

@test "the access log of every period persists on the log volume" {
	http_get / >/dev/null
	sleep 2.5
	http_get /robots.txt >/dev/null
	stop_server
	run "$IMGTOOL" logs "$W/out/web-daily.erofs"
	assert_output --partial "==> /var/log/lighttpd/access.log <=="
	assert_output --regexp 'GET / HTTP/1\.0" 200'
	assert_output --regexp 'GET /robots.txt HTTP/1\.0" 200'
}
