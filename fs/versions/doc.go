// Package versions computes b2fs's time-travel view from B2's version
// listings: the tree of a bucket (or of a prefix inside it) as it was at a
// moment, and the history of one name. It knows nothing of the kernel; the
// filesystem's adapter turns its answers into directories and files.
//
// # Listings
//
// Everything comes from b2_list_file_versions (class C, pages of up to
// 10,000 versions), never from a per-file call. A directory's versions are
// listed once per cache lifetime (the metadata cache's DirTTL):
//
//   - first its whole subtree without a delimiter, up to Options.TreePages
//     pages; a complete subtree listing answers every directory below it,
//     so walking a tree costs ceil(versions/10,000) calls;
//   - when the subtree is larger, the directory alone with delimiter "/"
//     (folder entries for its subdirectories).
//
// # The tree at a moment
//
// At time T a name shows its newest version uploaded at or before T,
// unless that version is a hide marker (the name was deleted then) or no
// version is that old (the name did not exist yet). A directory exists at
// T when a name below it is shown at T. Directories listed with the
// delimiter (subtrees beyond the page budget) are shown whenever B2 lists
// their folder entry, which can show a directory that was created after T,
// empty.
//
// # History
//
// The history of a name lists every stored version, named by its upload
// time in UTC with millisecond precision (VersionName), so that names sort
// chronologically; hide markers carry the suffix ".deleted". A history
// directory also lists, as subdirectories, every name that ever existed
// below it.
package versions
