# Shared helpers for the end-to-end tests: each test starts its own dockerd
# ("host") with data and exec roots under a private temp dir, installs the
# plugin from $PRIVATEER_BUILD/plugin, and removes everything it made on
# exit. Source it, then call e2e_init.
#
# Daemons run with --bridge=none and no iptables; containers use
# --network none. Nothing is pulled: the busybox image is built from the
# host's busybox-static with `docker import`.

set -euo pipefail

PRIVATEER_SRC=${PRIVATEER_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PRIVATEER_BUILD=${PRIVATEER_BUILD:-$PRIVATEER_SRC/build}
E2E_NAME=$(basename "$0" .sh)
E2E_TMP=
E2E_HOSTS=()
E2E_FAILED=0

e2e_log() { printf '%s: %s\n' "$E2E_NAME" "$*" >&2; }
e2e_fail() { e2e_log "FAIL: $*"; E2E_FAILED=1; exit 1; }
e2e_skip() { e2e_log "SKIPPED: $*"; exit 77; }

# Exits 77 (ctest: skipped, shown) when Docker cannot run here at all.
e2e_require_docker() {
	[ "$(id -u)" = 0 ] || e2e_skip "needs root to run dockerd"
	command -v dockerd >/dev/null || e2e_skip "dockerd is not installed (apt-get install docker.io)"
	command -v docker >/dev/null || e2e_skip "the docker client is not installed"
	command -v busybox >/dev/null || e2e_skip "busybox is not installed (apt-get install busybox-static)"
	[ -d /sys/fs/cgroup ] || e2e_skip "no cgroup file system"
	[ -f "$PRIVATEER_BUILD/plugin/config.json" ] ||
		e2e_fail "no plugin in $PRIVATEER_BUILD/plugin: run cmake --build build --target plugin"
}

e2e_init() {
	e2e_require_docker
	E2E_TMP=$(mktemp -d /tmp/privateer-e2e.XXXXXX)
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM
	e2e_log "working in $E2E_TMP"
}

# docker against host $1: dk HOST ARGS...
dk() {
	local host=$1
	shift
	docker -H "unix://$E2E_TMP/$host/docker.sock" "$@"
}

e2e_dockerd_pid() { cat "$E2E_TMP/$1/dockerd.pid" 2>/dev/null || true; }

# Starts (or restarts) the dockerd of host $1 and waits until it answers.
e2e_start_dockerd() {
	local host=$1 dir=$E2E_TMP/$1 i
	mkdir -p "$dir/data" "$dir/exec" "$dir/state" "$dir/config"
	case " ${E2E_HOSTS[*]-} " in *" $host "*) ;; *) E2E_HOSTS+=("$host") ;; esac
	dockerd --bridge=none --iptables=false --ip6tables=false \
		--data-root "$dir/data" --exec-root "$dir/exec" \
		--pidfile "$dir/dockerd.pid" -H "unix://$dir/docker.sock" \
		--containerd-namespace "e2e-$host-$$" \
		--containerd-plugins-namespace "e2e-$host-$$-plugins" \
		--log-level info >>"$dir/dockerd.log" 2>&1 &
	echo $! >"$dir/dockerd.pid.launch"
	for i in $(seq 1 120); do
		if dk "$host" version >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$(cat "$dir/dockerd.pid.launch")" 2>/dev/null; then
			tail -20 "$dir/dockerd.log" >&2
			e2e_fail "dockerd for $host exited at start"
		fi
		sleep 0.5
	done
	tail -20 "$dir/dockerd.log" >&2
	e2e_fail "dockerd for $host did not answer within 60s"
}

# Stops the dockerd of host $1 (SIGTERM, then SIGKILL after 60s).
e2e_stop_dockerd() {
	local dir=$E2E_TMP/$1 pid i
	pid=$(cat "$dir/dockerd.pid.launch" 2>/dev/null || true)
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 120); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$dir/dockerd.pid.launch"; return 0; }
		sleep 0.5
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$dir/dockerd.pid.launch"
}

# Processes whose root is under our temp dir or that our dockerds started:
# containerd, shims and their children, found by parentage from dockerd.
e2e_descendants() {
	local pid=$1 child
	for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		echo "$child"
		e2e_descendants "$child"
	done
}

# Kills host $1's dockerd with SIGKILL, as a crash would, with every process
# it started (containerd, shims, containers, the plugin), and waits until
# they are all gone and their mounts are released.
e2e_kill_dockerd() {
	local host=$1 dir=$E2E_TMP/$1 pid kids i m
	pid=$(cat "$dir/dockerd.pid.launch" 2>/dev/null || true)
	[ -n "$pid" ] || return 0
	kids=$(e2e_descendants "$pid")
	kill -KILL "$pid" $kids 2>/dev/null || true
	for i in $(seq 1 100); do
		local alive=0
		for p in $pid $kids; do
			if [ -e /proc/"$p" ] && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null; then
				alive=1
			fi
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for m in $(awk -v t="$dir/" 'index($5, t) == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -f "$dir/dockerd.pid.launch" "$dir/exec/containerd/containerd.pid"
}

e2e_cleanup() {
	local rc=$? host pid m
	set +e
	if [ -n "$E2E_TMP" ]; then
		# A sanitizer build of the plugin reports into the daemon's log.
		for host in "${E2E_HOSTS[@]-}"; do
			[ -n "$host" ] || continue
			if grep -E 'plugin=' "$E2E_TMP/$host/dockerd.log" 2>/dev/null |
				grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:'; then
				e2e_log "FAIL: sanitizer report from the plugin on $host:"
				grep -E 'plugin=' "$E2E_TMP/$host/dockerd.log" |
					grep -E -A30 'Sanitizer|runtime error:' | head -60 >&2
				[ $rc -eq 0 ] && rc=1
			fi
		done
		if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
			for host in "${E2E_HOSTS[@]-}"; do
				[ -n "$host" ] || continue
				e2e_log "--- last lines of $host's dockerd log ---"
				tail -25 "$E2E_TMP/$host/dockerd.log" >&2
				e2e_log "--- last lines of $host's plugin log ---"
				grep 'plugin=' "$E2E_TMP/$host/dockerd.log" |
					grep -v 'debug: VolumeDriver' | tail -60 >&2
			done
		fi
		for host in "${E2E_HOSTS[@]-}"; do
			[ -n "$host" ] || continue
			pid=$(cat "$E2E_TMP/$host/dockerd.pid.launch" 2>/dev/null)
			local kids=""
			[ -n "$pid" ] && kids=$(e2e_descendants "$pid")
			e2e_stop_dockerd "$host"
			# Shims outlive a dockerd killed with SIGKILL.
			for pid in $kids; do kill -KILL "$pid" 2>/dev/null; done
		done
		# Anything still mounted under our temp dir, deepest first.
		for m in $(awk -v t="$E2E_TMP" 'index($5, t) == 1 { print $5 }' \
			/proc/self/mountinfo | sort -r); do
			umount -l "$m" 2>/dev/null
		done
		rm -rf "$E2E_TMP"
	fi
	if [ $rc -eq 0 ]; then
		e2e_log "PASS"
	fi
	exit $rc
}

# Imports busybox:latest on host $1 from the host's busybox-static.
e2e_busybox_image() {
	local host=$1 root=$E2E_TMP/busybox-rootfs app
	if [ ! -f "$E2E_TMP/busybox.tar" ]; then
		mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" \
			"$root/sys" "$root/dev" "$root/data"
		cp "$(command -v busybox)" "$root/bin/busybox"
		for app in $(busybox --list); do
			[ "$app" = busybox ] && continue
			ln -sf busybox "$root/bin/$app"
		done
		printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' >"$root/etc/passwd"
		printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
		tar -C "$root" -cf "$E2E_TMP/busybox.tar" .
	fi
	dk "$host" import "$E2E_TMP/busybox.tar" busybox:latest >/dev/null
}

# Creates and enables the plugin on host $1 with its own state and config
# directories; extra args are `docker plugin set` settings (KEY=VALUE).
e2e_install_plugin() {
	local host=$1 dir=$E2E_TMP/$1
	shift
	dk "$host" plugin create privateer "$PRIVATEER_BUILD/plugin" >/dev/null
	dk "$host" plugin set privateer "state.source=$dir/state" \
		"config.source=$dir/config" PRIVATEER_LOG_LEVEL=debug "$@"
	dk "$host" plugin enable privateer >/dev/null
}

e2e_plugin_id() { dk "$1" plugin inspect -f '{{.Id}}' privateer; }

# Host PID of the plugin process on host $1 (from containerd's task list).
e2e_plugin_pid() {
	local host=$1 id
	id=$(e2e_plugin_id "$host")
	ctr --address "$E2E_TMP/$host/exec/containerd/containerd.sock" \
		--namespace "e2e-$host-$$-plugins" task ls 2>/dev/null |
		awk -v id="$id" '$1 == id && $3 == "RUNNING" { print $2 }'
}

# Waits until host $1's plugin answers with a new PID (after a crash).
e2e_wait_plugin_restart() {
	local host=$1 old=$2 i pid
	for i in $(seq 1 120); do
		pid=$(e2e_plugin_pid "$host")
		if [ -n "$pid" ] && [ "$pid" != "$old" ] &&
			dk "$host" volume ls >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	e2e_fail "plugin on $host did not come back after a crash"
}

# busybox container on host $1 with no network: run_bb HOST [docker run args] -- CMD...
run_bb() {
	local host=$1
	shift
	local args=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
	[ "${1-}" = "--" ] && shift
	dk "$host" run --network none "${args[@]}" busybox "$@"
}

# Assertions
assert_eq() { [ "$1" = "$2" ] || e2e_fail "${3:-values differ}: expected [$2], got [$1]"; }
assert_contains() {
	case "$1" in *"$2"*) ;; *) e2e_fail "${3:-output} does not contain [$2]: [$1]" ;; esac
}
# Runs a command that must fail; prints its combined output.
must_fail() {
	local out
	if out=$("$@" 2>&1); then
		e2e_fail "expected failure: $* (output: $out)"
	fi
	printf '%s' "$out"
}
# The plugin's log lines in host $1's dockerd log.
plugin_log() { grep 'plugin=' "$E2E_TMP/$1/dockerd.log" || true; }
