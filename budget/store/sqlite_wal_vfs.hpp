#pragma once
// budget::wal_write_vfs — an SQLite VFS over the default one that writes each commit to the WAL
// with one write(2) instead of two per page.
//
// SQLite appends a frame as its 24-byte header, then its page, each with its own pwrite: a commit
// that changes six 1 KiB pages costs twelve system calls, on the worker's path for every hold and
// settlement (issue 19). Through this VFS the WAL's frames are gathered in memory and go to the
// file together when the commit frame (the one whose header carries the database size) is
// complete — still inside the commit, so its write error is the commit's, and before SQLite
// publishes the frames in the WAL index, so another connection (the checkpointer, a report) never
// sees a frame that is not in the file. Killing the process loses nothing committed: a commit has
// reached the kernel before it returns, as without the buffer.
//
// Anything else that reads, syncs, sizes, truncates or closes the WAL, and any WAL-index barrier or
// lock on its database, first writes what is gathered. Other files pass straight through.

namespace budget {

// The VFS's name, registered (not as the default) on first use; nullptr when registration failed
// (the caller then opens with the default VFS).
const char* wal_write_vfs();

// For tests: writes this VFS has made to WAL files since the process started.
unsigned long long wal_file_writes();

}  // namespace budget
