# manifest DIR: one line per entry with path, type, mode, owner, group,
# size, mtime, hard-link group, symlink target, sha256 and xattrs — what a
# restore must bring back. Hard links are named by the first path of their
# inode, so two trees compare equal when their link structure matches.
manifest() {
	local root=$1
	(
		cd "$root" || exit 1
		declare -A first
		find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		while IFS= read -r -d '' p; do
			local st ino link="" sum="-" xa="" group=""
			st=$(stat -c '%F|%a|%u|%g|%s|%Y|%i|%h' -- "$p")
			IFS='|' read -r type mode uid gid size mtime ino nlink <<<"$st"
			if [ "$type" = "symbolic link" ]; then
				link=$(readlink -- "$p")
				mtime=-
			elif [ "$type" = "regular file" ] || [ "$type" = "regular empty file" ]; then
				sum=$(sha256sum -- "$p" | cut -d' ' -f1)
				if [ "$nlink" -gt 1 ]; then
					group=$(find . -inum "$ino" -print | LC_ALL=C sort | head -1)
					# linked only from outside the tree: no group
					[ "$(find . -inum "$ino" -print | wc -l)" -gt 1 ] || group=
				fi
			fi
			[ "$type" = directory ] && size=-
			if command -v getfattr >/dev/null; then
				xa=$(getfattr -h -d -m - --absolute-names -- "$p" 2>/dev/null |
					{ grep -v -e '^#' -e '^security\.' -e '^$' || true; } |
					LC_ALL=C sort | tr '\n' ';')
			fi
			printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$p" "$type" \
				"$mode" "$uid" "$gid" "$size" "$mtime" "$group" "$link" "$sum" "$xa"
		done
		# the root directory itself: a restore brings its owner and mode back
		stat -c '.|root|%a|%u|%g' .
	)
}
