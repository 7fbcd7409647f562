#!/usr/bin/env bash
# Benchmark (not a test): `privateer export` and `privateer import` against
# GNU tar at the same compression, in one run, on the two datasets of
# datasets.sh (pgdata: initdb + pgbench -i -s SCALE; files: SMALL_FILES
# real small files).
#
#   export   privateer export VOLUME --compress C (plugin child -> pipe ->
#            HTTP on a Unix socket -> CLI -> file, fsynced, renamed)
#            vs  tar -C DIR -cf - . | zstd -3 -T1 > FILE   (C = zstd)
#                tar -C DIR -cf FILE .                    (C = none)
#            the same with --xattrs --acls (the metadata privateer always
#            reads), and that followed by `sync -f` (as durable as ours)
#   import   privateer import FILE NEWVOLUME (into a volume built out of
#            view, synced to disk, then renamed into place)
#            vs  zstd -dc FILE | tar -C DIR -xpf -, alone and followed by
#                `sync -f DIR` (as durable as ours)
#
# The plugin runs directly (no Docker) with its own state directory on the
# same file system as the tar targets; every step starts after a `sync`.
# Each measurement is repeated BENCH_ROUNDS times, contenders in rotated
# order; the table shows medians and ratios privateer/tar (the issue's
# target: <= 1.1x GNU tar's time at the same compression). Exits 0 when
# everything ran, whatever the figures.
#
#   usage: tests/bench/bench_archive.sh
#   knobs: PGBENCH_SCALE (20), SMALL_FILES (30000), BENCH_ROUNDS (3),
#          BENCH_DIR (/tmp), BENCH_KEEP=1, BENCH_FS (ext4, or host: see
#          datasets.sh), BENCH_FS_SIZE (24G), PRIVATEER_BUILD (build),
#          PG_USER (benchpg, created if missing)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PRIVATEER_BUILD=${PRIVATEER_BUILD:-$SRC/build}
P=$PRIVATEER_BUILD/privateer
SCALE=${PGBENCH_SCALE:-20}
TX=${PGBENCH_TX:-200}
NFILES=${SMALL_FILES:-30000}
ROUNDS=${BENCH_ROUNDS:-3}
PG_USER=${PG_USER:-benchpg}

die() {
	log "ERROR: $*"
	exit 1
}
. "$HERE/datasets.sh"

[ "$(id -u)" = 0 ] || die "run as root (owners are kept; postgres runs as $PG_USER)"
missing=()
command -v zstd >/dev/null || missing+=(zstd)
command -v curl >/dev/null || missing+=(curl)
[ -n "$(pg_bindir)" ] || missing+=(postgresql postgresql-contrib)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	apt-get update -qq || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null 2>&1 || log "could not install ${missing[*]}"
fi
command -v zstd >/dev/null || die "zstd is missing"
PGBIN=$(pg_bindir)
[ -n "$PGBIN" ] || die "initdb/pg_ctl/pgbench not found (apt-get install postgresql)"
[ -x "$P" ] || die "no $P: build first (cmake --build build)"
id -u "$PG_USER" >/dev/null 2>&1 ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" ||
	die "cannot create user $PG_USER"

mkdir -p "${BENCH_DIR:-/tmp}"
B=$(mktemp -d "${BENCH_DIR:-/tmp}/privateer-bench-archive.XXXXXX")
BENCH_FS_LOOP=
PLUGIN_PID=
PG_RUNNING=
cleanup() {
	local rc=$?
	trap - EXIT
	if [ -n "$PG_RUNNING" ]; then
		runuser -u "$PG_USER" -- "$PGBIN/pg_ctl" -D "$PG_RUNNING" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ -n "$PLUGIN_PID" ]; then
		kill -TERM "$PLUGIN_PID" 2>/dev/null || true
		wait "$PLUGIN_PID" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		log "kept $B${BENCH_FS_LOOP:+ (mounted from $BENCH_FS_LOOP)}"
	else
		bench_fs_umount
		rm -rf "$B"
	fi
	[ $rc = 0 ] || log "failed (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log "working in $B"
bench_fs_mount "$B"
chmod 755 "$B"
mkdir -p "$B/gen" "$B/pgsock" "$B/out" "$B/x"
chown "$PG_USER" "$B/gen" "$B/pgsock"

gen_pgdata
gen_files

SOCK=$B/plugin.sock
PRIVATEER_CONFIG=$B/no-config.json "$P" plugin --socket "$SOCK" --state "$B/state" \
	--mount-root "$B/mnt" >"$B/plugin.log" 2>&1 &
PLUGIN_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || die "the plugin did not start (see $B/plugin.log)"
export PRIVATEER_SOCKET=$SOCK
call() { curl -sf --unix-socket "$SOCK" -XPOST "http://p/VolumeDriver.$1" -d "$2" >/dev/null; }
volume_rm() { # removes, and waits for the background deletion
	call Remove "{\"Name\":\"$1\"}"
	for _ in $(seq 1 600); do
		[ -z "$(ls -A "$B/state/volumes/.trash")" ] && return 0
		sleep 0.1
	done
}

tar_c() { # DIR FILE COMP [tar options]
	local dir=$1 file=$2 comp=$3
	shift 3
	if [ "$comp" = zstd ]; then
		tar -C "$dir" "$@" -cf - . | zstd -q -3 -T1 >"$file"
	else
		tar -C "$dir" "$@" -cf "$file" .
	fi
}
tar_x() { # FILE COMP DIR
	if [ "$2" = zstd ]; then zstd -dc "$1" | tar -C "$3" -xpf -; else tar -C "$3" -xpf "$1"; fi
}
tar_x_sync() { tar_x "$@" && sync -f "$3"; }
tar_c_sync() { tar_c "$@" && sync -f "$2"; }

declare -A R
# Every measured step starts with nothing dirty in the page cache: an
# earlier step's writeback must not be billed to the next one.
m() { # m KEY CMD...: one measurement appended to the list KEY
	local key=$1 t
	shift
	sync
	timed t "$@"
	M[$key]="${M[$key]-} $t"
}
bench_dataset() { # DATASET
	local ds=$1 comp r f vol step
	call Create "{\"Name\":\"$ds\"}"
	cp -a "$B/gen/$ds.initial/." "$B/state/volumes/$ds/data/"
	local data=$B/state/volumes/$ds/data
	for comp in zstd none; do
		declare -A M=()
		for r in $(seq 1 "$ROUNDS"); do
			log "$ds, $comp, round $r"
			rm -rf "$B/out" && mkdir "$B/out"
			vol=imp-$ds-$r
			# contenders in rotated order, round by round
			for step in $(printf '%s\n' pe te tx ts | awk -v r="$r" \
			    '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r) % NR + 1] }'); do
				case $step in
				pe) m pe "$P" export "$ds" --to-dir "$B/out" --compress "$comp" >/dev/null ;;
				te) m te tar_c "$data" "$B/out/tar.$comp" "$comp" ;;
				tx) m tx tar_c "$data" "$B/out/tarx.$comp" "$comp" --xattrs --acls ;;
				ts) m ts tar_c_sync "$data" "$B/out/tars.$comp" "$comp" --xattrs --acls ;;
				esac
			done
			f=$(ls "$B/out/$ds"-local-*)
			R[$ds.$comp.psize]=$(stat -c %s "$f")
			R[$ds.$comp.tsize]=$(stat -c %s "$B/out/tar.$comp")
			for step in $(printf '%s\n' pi ti tj | awk -v r="$r" \
			    '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r) % NR + 1] }'); do
				rm -rf "$B/x" && mkdir "$B/x"
				case $step in
				pi) m pi "$P" import "$f" "$vol" >/dev/null ;;
				ti) m ti tar_x "$B/out/tar.$comp" "$comp" "$B/x" ;;
				tj) m tj tar_x_sync "$B/out/tar.$comp" "$comp" "$B/x" ;;
				esac
			done
			diff -r --no-dereference "$data" "$B/state/volumes/$vol/data" >/dev/null ||
				die "$ds: the imported volume differs from the original"
			volume_rm "$vol"
		done
		for step in pe te tx ts pi ti tj; do
			# shellcheck disable=SC2086
			R[$ds.$comp.$step]=$(median ${M[$step]})
		done
		unset M
	done
	R[$ds.size]=$(du -sb "$data" | cut -f1)
	R[$ds.files]=$(find "$data" | wc -l)
	volume_rm "$ds"
}

bench_dataset pgdata
bench_dataset files

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
row() { # row DATASET COMP STEP-NAME PRIVATEER-KEY KEY...: seconds and ratios
	local ds=$1 comp=$2 name=$3 p=$4 k line
	shift 4
	line=$(printf '  %-5s %-7s %8s' "$comp" "$name" "${R[$ds.$comp.$p]}")
	for k in "$@"; do
		line+=$(printf ' %8s %6sx' "${R[$ds.$comp.$k]}" "$(ratio "${R[$ds.$comp.$p]}" "${R[$ds.$comp.$k]}")")
	done
	echo "$line"
}
echo
echo "privateer export/import vs GNU tar — medians of $ROUNDS rounds, seconds; ratio = privateer / tar"
echo "  $(tar --version | head -1), zstd $(zstd -V | grep -o 'v[0-9.]*' | head -1), $(nproc) cores"
echo "  export: privateer (durable: fsync before rename) | tar -c | tar -c --xattrs --acls | the same + sync"
echo "  import: privateer (durable: synced before the volume appears) | tar -x | tar -x + sync"
for ds in pgdata files; do
	echo
	echo "$ds: $(mb "${R[$ds.size]}") in ${R[$ds.files]} entries"
	for comp in zstd none; do
		row "$ds" "$comp" export pe te tx ts
		row "$ds" "$comp" import pi ti tj
		echo "                archive size: privateer $(mb "${R[$ds.$comp.psize]}"), GNU tar $(mb "${R[$ds.$comp.tsize]}")"
	done
done
