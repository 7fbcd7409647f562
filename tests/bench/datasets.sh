# Shared by the benchmarks (sourced): the two realistic datasets.
#
#   pgdata  a PostgreSQL data directory (initdb + pgbench -i -s $SCALE),
#           stopped, in $B/gen/pgdata.initial; the same after a fixed
#           pgbench run (-t $TX -c 1, --random-seed=42) in pgdata.changed
#   files   $NFILES real small files (a seeded sample of /usr/include and
#           /usr/share) in $B/gen/files.initial; after a seeded 1% edit
#           (half appended to, half rewritten in place), 0.1% deleted and
#           0.1% added, in files.changed
#
# It also holds the measuring helpers (log, now, sub, timed, median,
# ratio). The caller defines die, B (the work directory, with $B/gen and
# $B/pgsock owned by $PG_USER), PG_USER, SCALE, TX and NFILES, sets PGBIN
# from pg_bindir, and stops a running postgres ($PG_RUNNING) on exit.

# The directory of initdb, pg_ctl, pgbench and postgres, or nothing.
pg_bindir() {
	local d
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		d=$(dirname "$(readlink -f "$(command -v initdb)")")
		[ -x "$d/pgbench" ] && [ -x "$d/postgres" ] && { echo "$d"; return; }
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && [ -x "$d/pgbench" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
	done
	return 0
}

pg() { runuser -u "$PG_USER" -- "$@"; }
pg_start() {
	pg "$PGBIN/pg_ctl" -D "$1" -l "$B/gen/postgres.log" -w -t 300 \
		-o "-c listen_addresses='' -k $B/pgsock -c fsync=off" start >/dev/null
	PG_RUNNING=$1
}
pg_stop() {
	pg "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 300 stop >/dev/null
	PG_RUNNING=
}
gen_pgdata() {
	local d=$B/gen/pgdata.initial
	log "pgdata: initdb + pgbench -i -s $SCALE"
	pg "$PGBIN/initdb" -D "$d" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$B/gen/initdb.log"
	pg_start "$d"
	pg "$PGBIN/pgbench" -h "$B/pgsock" -U postgres -i -s "$SCALE" -q postgres >"$B/gen/pgbench-init.log" 2>&1 ||
		{ cat "$B/gen/pgbench-init.log" >&2; die "pgbench -i failed"; }
	pg_stop "$d"
	log "pgdata: pgbench -t $TX -c 1 --random-seed=42 on a copy"
	cp -a "$d" "$B/gen/pgdata.changed"
	d=$B/gen/pgdata.changed
	pg_start "$d"
	pg "$PGBIN/pgbench" -h "$B/pgsock" -U postgres -t "$TX" -c 1 -j 1 --random-seed=42 postgres \
		>"$B/gen/pgbench-run.log" 2>&1 || { cat "$B/gen/pgbench-run.log" >&2; die "pgbench run failed"; }
	pg_stop "$d"
}
# pick K of the lines of FILE with seed S (selection sampling: exact, in order)
pick() {
	awk -v k="$1" -v seed="$3" -v n="$(wc -l <"$2")" \
		'BEGIN { srand(seed) } { if (rand() * (n - NR + 1) < k - got) { print; got++ } }' "$2"
}
gen_files() {
	local d=$B/gen/files.initial all=$B/gen/usr.list n round=0 left i f sz
	log "files: $NFILES real small files from /usr/include and /usr/share"
	find /usr/include /usr/share -xdev -type f -size -256k 2>/dev/null | sed 's#^/##' |
		grep -v '[[:cntrl:]]' | LC_ALL=C sort >"$all"
	n=$(wc -l <"$all")
	[ "$n" -gt 0 ] || die "no files under /usr/include and /usr/share"
	mkdir -p "$d"
	if [ "$n" -ge "$NFILES" ]; then
		pick "$NFILES" "$all" 42 | rsync -a --files-from=- / "$d/"
	else
		# Not enough distinct files here: repeat them in rounds (restic
		# dedups the repeats; the others store them again).
		log "files: only $n distinct files here; repeating them"
		left=$NFILES
		while [ "$left" -gt 0 ]; do
			mkdir -p "$d/r$round"
			head -n "$left" "$all" | rsync -a --files-from=- / "$d/r$round/"
			left=$((left - n))
			round=$((round + 1))
		done
	fi
	log "files: seeded 1% edit, 0.1% deleted, 0.1% added"
	cp -a "$d" "$B/gen/files.changed"
	d=$B/gen/files.changed
	(cd "$d" && find . -type f | LC_ALL=C sort) >"$B/gen/files.list"
	n=$(wc -l <"$B/gen/files.list")
	local k=$((n / 100)) x=$((n / 1000))
	[ $x -gt 0 ] || x=1
	i=0
	pick $((k + x)) "$B/gen/files.list" 4242 >"$B/gen/files.picked"
	while IFS= read -r f; do
		i=$((i + 1))
		if [ $((i % 11)) = 0 ] && [ $((i / 11)) -le $x ]; then
			rm -f "$d/$f" # a deletion
		elif [ $((i % 2)) = 0 ]; then
			printf 'edited by the benchmark (line %d, seed 4242)\n' "$i" >>"$d/$f"
		else
			# rewrite 40 bytes in the middle of the file, in place
			sz=$(stat -c %s "$d/$f")
			printf 'rewritten by the benchmark, item %06d\n' "$i" |
				dd of="$d/$f" bs=1 seek=$((sz / 2)) conv=notrunc status=none
		fi
	done <"$B/gen/files.picked"
	mkdir -p "$d/bench-added"
	i=0
	while IFS= read -r f && [ $i -lt $x ]; do
		i=$((i + 1))
		{ head -c 4096 "$d/$f" 2>/dev/null || true; printf '\nadded by the benchmark, %d\n' "$i"; } \
			>"$d/bench-added/new-$i.txt"
	done < <(pick $x "$B/gen/files.list" 777)
}

# ---- measuring, shared by the benchmarks ----
log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
timed() { # timed VAR CMD...: wall seconds of CMD into VAR
	local var=$1 t0
	shift
	t0=$(now)
	"$@"
	printf -v "$var" '%s' "$(sub "$(now)" "$t0")"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# --- the filesystem the benchmark works on ----------------------------------
# BENCH_FS=ext4 (default): the work directory is a fresh ext4 made by
# mkfs.ext4 with its defaults (a journal included; inode tables written up
# front, so no background initialisation runs during the benchmark), in a
# sparse image of BENCH_FS_SIZE (24G) next to it, loop-mounted with direct
# I/O. BENCH_FS=btrfs or xfs: the same with mkfs.btrfs / mkfs.xfs defaults
# (XFS has reflink=1 by default), where privateer's server keeps its
# snapshots as btrfs subvolumes or reflink clones. BENCH_FS=host: the
# directory as it is.
#
# Why not the host's filesystem as it is: where it is ext4 without a
# journal (this project's build machines), ext4 skips inodes freed in the
# last 30 seconds when it allocates one, reading each candidate's inode
# block to find out; after the deletions other work on the machine keeps
# making, creating 30000 empty files there took 2.2-4.5 s instead of
# 0.36 s on a fresh ext4, journal or not. That cost falls on whoever
# creates files or directories (a restore, a snapshot's directories) and
# buried what the benchmarks compare under noise of +-30%.
bench_fs_mount() { # DIR: put the benchmark's filesystem on DIR
	BENCH_FS_IMG= BENCH_FS_LOOP= BENCH_FS_DIR=$1
	[ "${BENCH_FS:-ext4}" = host ] && { log "working on the host's filesystem (BENCH_FS=host)"; return 0; }
	local fs=${BENCH_FS:-ext4}
	case $fs in ext4 | btrfs | xfs) ;; *) die "BENCH_FS is ext4, btrfs, xfs or host, not $fs" ;; esac
	command -v "mkfs.$fs" >/dev/null && command -v losetup >/dev/null || die "mkfs.$fs and losetup are needed (e2fsprogs, btrfs-progs, xfsprogs, mount), or BENCH_FS=host"
	BENCH_FS_IMG=$1.img
	truncate -s "${BENCH_FS_SIZE:-24G}" "$BENCH_FS_IMG"
	case $fs in
	ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$BENCH_FS_IMG" || die "mkfs.ext4 failed" ;;
	btrfs) mkfs.btrfs -q -f "$BENCH_FS_IMG" >/dev/null || die "mkfs.btrfs failed" ;;
	xfs) mkfs.xfs -q -f "$BENCH_FS_IMG" || die "mkfs.xfs failed" ;;
	esac
	BENCH_FS_LOOP=$(losetup --direct-io=on -f --show "$BENCH_FS_IMG" 2>/dev/null) ||
		BENCH_FS_LOOP=$(losetup -f --show "$BENCH_FS_IMG") || die "losetup failed"
	mount "$BENCH_FS_LOOP" "$1" || die "mounting $BENCH_FS_LOOP on $1 failed"
	log "working on a fresh $fs ($BENCH_FS_LOOP, ${BENCH_FS_SIZE:-24G} sparse; BENCH_FS=host to use the host's)"
}
bench_fs_umount() { # after every process using it is gone
	[ -n "${BENCH_FS_LOOP:-}" ] || return 0
	umount "$BENCH_FS_DIR" 2>/dev/null || { sleep 1; umount "$BENCH_FS_DIR"; } || log "could not unmount $BENCH_FS_DIR"
	losetup -d "$BENCH_FS_LOOP" 2>/dev/null || true
	rm -f "$BENCH_FS_IMG"
	BENCH_FS_LOOP=
}

# --- processes: ports, CPU and memory (bench_many_clients, bench_many_volumes)
BENCH_PORTS=" "
port_free() { # port_free VAR: a loopback port nobody listens on (not handed out yet)
	local p i
	for i in $(seq 1 500); do
		p=$((20000 + RANDOM % 40000))
		case "$BENCH_PORTS" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			BENCH_PORTS+="$p "
			printf -v "$1" %s "$p"
			return
		fi
	done
	die "no free port"
}
port_wait() { # port_wait PORT WHAT
	local i
	for i in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
		sleep 0.05
	done
	die "nothing listens on 127.0.0.1:$1 ($2)"
}
# CPU seconds (user+sys) of PID and of its reaped children (a privateer
# daemon works in its threads and its rsync children; sshd in children).
proc_cpu() {
	local s t
	t=$(getconf CLK_TCK)
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	awk -v t="$t" -v a="${12}" -v b="${13}" -v c="${14}" -v d="${15}" \
		'BEGIN { printf "%.2f", (a + b + c + d) / t }'
}
proc_rss_kib() { awk '/^VmRSS:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# The RSS of PID and of every descendant, summed (sshd forks a process per session).
tree_rss_kib() {
	local pid=$1 sum child
	sum=$(proc_rss_kib "$pid")
	for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		sum=$((sum + $(tree_rss_kib "$child")))
	done
	echo "$sum"
}
# rss_watch_start NAME PID [tree]: samples the RSS every 50 ms into
# $B/NAME.rss until rss_watch_stop NAME, which sets RSS_PEAK (KiB). Not
# from a $(...) subshell: the sampler is this shell's child.
rss_watch_start() {
	local name=$1 pid=$2 how=${3:-}
	: >"$B/$name.rss"
	rm -f "$B/$name.rss.stop"
	(
		while kill -0 "$pid" 2>/dev/null && [ ! -e "$B/$name.rss.stop" ]; do
			if [ "$how" = tree ]; then tree_rss_kib "$pid"; else proc_rss_kib "$pid"; fi
			sleep 0.05
		done >>"$B/$name.rss"
	) &
	printf -v "RSS_WATCH_$name" %s "$!"
}
rss_watch_stop() {
	local var=RSS_WATCH_$1
	touch "$B/$1.rss.stop"
	wait "${!var}" 2>/dev/null || true
	RSS_PEAK=$(sort -n "$B/$1.rss" | tail -1)
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# p50/p99 (nearest rank) of a file of numbers: "p50 p99 max"
pcts() { sort -g "$1" | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "0 0 0"; exit }
	r50 = int(0.5 * NR + 0.999999); r99 = int(0.99 * NR + 0.999999)
	printf "%.2f %.2f %.2f\n", v[r50], v[r99], v[NR] }'; }
# anonymous RSS (heap, stacks): what is the process's own, not shared libraries' pages
proc_anon_kib() { awk '/^RssAnon:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# proportional set size: shared library pages divided among their users
proc_pss_kib() { awk '/^Pss:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
