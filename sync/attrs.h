/*
 * attrs: whether a directory tree carries extended attributes or POSIX
 * ACLs (which Linux shows as system.posix_acl_* attributes). rsync's -A and
 * -X make both ends read every file's ACLs and attributes, and the server
 * compare them with the previous snapshot's for every unchanged file: a
 * third of an incremental backup of many small files. A backup asks for
 * them only when the volume has any (see DEVELOPERS.md, "ACLs and
 * extended attributes"); this one listxattr per entry is far cheaper.
 */
#ifndef PRIVATEER_ATTRS_H
#define PRIVATEER_ATTRS_H

/*
 * 1 if dir or anything under it (symlinks not followed) has an extended
 * attribute or an ACL, 0 if nothing has (or the filesystem has none), -1
 * if the tree could not be read (errno set; callers then assume 1).
 */
int attrs_present(const char *dir);
/* Tests: ask by full path (llistxattr), as on kernels before 6.13. */
void attrs_by_path(int on);

#endif
