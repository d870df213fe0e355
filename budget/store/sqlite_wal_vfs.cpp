#include "budget/store/sqlite_wal_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <string>

namespace budget {
namespace {

constexpr const char* k_name = "tollgate-wal";
// A frame's header: its bytes 4..7 hold the database size after a commit, zero otherwise.
constexpr int k_frame_header = 24;
// What a transaction larger than this (a big prune, say) writes goes out in pieces: the unix VFS
// writes at most 128 KiB - 1 bytes per call (it masks the count with 0x1ffff).
constexpr std::size_t k_max_write = 0x1ffff;

std::atomic<unsigned long long> g_wal_writes{0};

struct WalBuffer {
  std::string data;
  sqlite3_int64 start = 0;
  sqlite3_int64 commit_page_at = -1;  // where the page of a commit frame whose header came goes
};

struct File {
  sqlite3_file base;  // first: SQLite sees this
  sqlite3_file* real;
  File* wal;          // a database: its WAL while open
  File* db;           // a WAL: its database
  WalBuffer* buffer;  // a WAL's gathered frames
};

sqlite3_vfs* real_vfs(sqlite3_vfs* vfs) {
  return static_cast<sqlite3_vfs*>(vfs->pAppData);
}
File* file(sqlite3_file* f) {
  return reinterpret_cast<File*>(f);
}
const sqlite3_io_methods* real_methods(File* f) {
  return f->real->pMethods;
}

int flush(File* f) {
  WalBuffer* b = f->buffer;
  if (!b || b->data.empty()) return SQLITE_OK;
  const int rc =
      real_methods(f)->xWrite(f->real, b->data.data(), static_cast<int>(b->data.size()), b->start);
  g_wal_writes.fetch_add(1, std::memory_order_relaxed);
  b->start += static_cast<sqlite3_int64>(b->data.size());
  b->data.clear();
  b->commit_page_at = -1;
  return rc;
}

// The WAL of a database file, with what it gathered written out.
int flush_wal_of(File* db) {
  return db->wal ? flush(db->wal) : SQLITE_OK;
}

int wal_write(File* f, const void* data, int n, sqlite3_int64 offset) {
  WalBuffer& b = *f->buffer;
  const auto end = b.start + static_cast<sqlite3_int64>(b.data.size());
  if (!b.data.empty() && offset >= b.start && offset + n <= end) {
    // Rewriting what is gathered (SQLite rewrites frame headers of the open transaction).
    std::memcpy(b.data.data() + (offset - b.start), data, static_cast<std::size_t>(n));
    return SQLITE_OK;
  }
  // Before a flush below forgets it: this write is the page of a commit frame.
  const bool commit_page = b.commit_page_at == offset;
  if (b.data.empty() || offset != end ||
      b.data.size() + static_cast<std::size_t>(n) > k_max_write) {
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    b.start = offset;
    if (static_cast<std::size_t>(n) > k_max_write) {  // never from SQLite (pages <= 64 KiB)
      g_wal_writes.fetch_add(1, std::memory_order_relaxed);
      return real_methods(f)->xWrite(f->real, data, n, offset);
    }
  }
  b.data.append(static_cast<const char*>(data), static_cast<std::size_t>(n));
  if (n == k_frame_header) {
    const auto* h = static_cast<const unsigned char*>(data);
    b.commit_page_at = (h[4] | h[5] | h[6] | h[7]) ? offset + k_frame_header : -1;
  } else if (commit_page) {
    return flush(f);
  }
  return SQLITE_OK;
}

// io methods

int x_close(sqlite3_file* p) {
  File* f = file(p);
  int rc = flush(f);
  if (f->db) f->db->wal = nullptr;
  if (f->wal) f->wal->db = nullptr;
  const int closed = real_methods(f)->xClose(f->real);
  delete f->buffer;
  f->buffer = nullptr;
  return rc != SQLITE_OK ? rc : closed;
}
int x_read(sqlite3_file* p, void* data, int n, sqlite3_int64 offset) {
  File* f = file(p);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xRead(f->real, data, n, offset);
}
int x_write(sqlite3_file* p, const void* data, int n, sqlite3_int64 offset) {
  File* f = file(p);
  if (f->buffer) return wal_write(f, data, n, offset);
  return real_methods(f)->xWrite(f->real, data, n, offset);
}
int x_truncate(sqlite3_file* p, sqlite3_int64 size) {
  File* f = file(p);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xTruncate(f->real, size);
}
int x_sync(sqlite3_file* p, int flags) {
  File* f = file(p);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xSync(f->real, flags);
}
int x_file_size(sqlite3_file* p, sqlite3_int64* size) {
  File* f = file(p);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileSize(f->real, size);
}
int x_lock(sqlite3_file* p, int level) {
  return real_methods(file(p))->xLock(file(p)->real, level);
}
int x_unlock(sqlite3_file* p, int level) {
  return real_methods(file(p))->xUnlock(file(p)->real, level);
}
int x_check_reserved_lock(sqlite3_file* p, int* out) {
  return real_methods(file(p))->xCheckReservedLock(file(p)->real, out);
}
int x_file_control(sqlite3_file* p, int op, void* arg) {
  File* f = file(p);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileControl(f->real, op, arg);
}
int x_sector_size(sqlite3_file* p) {
  return real_methods(file(p))->xSectorSize(file(p)->real);
}
int x_device_characteristics(sqlite3_file* p) {
  return real_methods(file(p))->xDeviceCharacteristics(file(p)->real);
}
// The WAL index: frames are in the file before SQLite publishes them (it calls the barrier between
// the two copies of the index header it writes after a commit) or gives up a lock.
int x_shm_map(sqlite3_file* p, int region, int size, int extend, void volatile** out) {
  return real_methods(file(p))->xShmMap(file(p)->real, region, size, extend, out);
}
int x_shm_lock(sqlite3_file* p, int offset, int n, int flags) {
  File* f = file(p);
  if (const int rc = flush_wal_of(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xShmLock(f->real, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* p) {
  File* f = file(p);
  flush_wal_of(f);  // a failure shows at the commit, which flushes before it returns
  real_methods(f)->xShmBarrier(f->real);
}
int x_shm_unmap(sqlite3_file* p, int delete_flag) {
  File* f = file(p);
  flush_wal_of(f);
  return real_methods(f)->xShmUnmap(f->real, delete_flag);
}
int x_fetch(sqlite3_file* p, sqlite3_int64 offset, int n, void** out) {
  return real_methods(file(p))->xFetch(file(p)->real, offset, n, out);
}
int x_unfetch(sqlite3_file* p, sqlite3_int64 offset, void* page) {
  return real_methods(file(p))->xUnfetch(file(p)->real, offset, page);
}

// One table per version, so that a file claims no more than the file under it can do (SQLite
// uses WAL only where xShmMap is there).
constexpr sqlite3_io_methods methods(int version) {
  return {version,
          x_close,
          x_read,
          x_write,
          x_truncate,
          x_sync,
          x_file_size,
          x_lock,
          x_unlock,
          x_check_reserved_lock,
          x_file_control,
          x_sector_size,
          x_device_characteristics,
          version >= 2 ? x_shm_map : nullptr,
          version >= 2 ? x_shm_lock : nullptr,
          version >= 2 ? x_shm_barrier : nullptr,
          version >= 2 ? x_shm_unmap : nullptr,
          version >= 3 ? x_fetch : nullptr,
          version >= 3 ? x_unfetch : nullptr};
}
const sqlite3_io_methods k_methods[3] = {methods(1), methods(2), methods(3)};

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* p, int flags, int* out_flags) {
  File* f = file(p);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->wal = f->db = nullptr;
  f->buffer = nullptr;
  f->base.pMethods = nullptr;
  const int rc = real_vfs(vfs)->xOpen(real_vfs(vfs), name, f->real, flags, out_flags);
  if (!f->real->pMethods) return rc;
  if (rc != SQLITE_OK) {
    f->real->pMethods->xClose(f->real);
    return rc;
  }
  if ((flags & SQLITE_OPEN_WAL) && name) {
    f->buffer = new (std::nothrow) WalBuffer;
    // The database's file object is ours: this VFS opened it.
    f->db = file(sqlite3_database_file_object(name));
    if (f->db) f->db->wal = f;
  }
  const int version = std::clamp(f->real->pMethods->iVersion, 1, 3);
  f->base.pMethods = &k_methods[version - 1];
  return SQLITE_OK;
}

// The rest of the VFS is the default one's.
int x_delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return real_vfs(v)->xDelete(real_vfs(v), name, sync_dir);
}
int x_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return real_vfs(v)->xAccess(real_vfs(v), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return real_vfs(v)->xFullPathname(real_vfs(v), name, n, out);
}
void* x_dl_open(sqlite3_vfs* v, const char* name) {
  return real_vfs(v)->xDlOpen(real_vfs(v), name);
}
void x_dl_error(sqlite3_vfs* v, int n, char* out) {
  real_vfs(v)->xDlError(real_vfs(v), n, out);
}
void (*x_dl_sym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return real_vfs(v)->xDlSym(real_vfs(v), h, sym);
}
void x_dl_close(sqlite3_vfs* v, void* h) {
  real_vfs(v)->xDlClose(real_vfs(v), h);
}
int x_randomness(sqlite3_vfs* v, int n, char* out) {
  return real_vfs(v)->xRandomness(real_vfs(v), n, out);
}
int x_sleep(sqlite3_vfs* v, int us) {
  return real_vfs(v)->xSleep(real_vfs(v), us);
}
int x_current_time(sqlite3_vfs* v, double* out) {
  return real_vfs(v)->xCurrentTime(real_vfs(v), out);
}
int x_get_last_error(sqlite3_vfs* v, int n, char* out) {
  return real_vfs(v)->xGetLastError(real_vfs(v), n, out);
}
int x_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
  return real_vfs(v)->xCurrentTimeInt64(real_vfs(v), out);
}

const char* register_vfs() {
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (!real || real->iVersion < 2 || !real->xCurrentTimeInt64) return nullptr;
  static sqlite3_vfs vfs{};
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(sizeof(File)) + real->szOsFile;
  vfs.mxPathname = real->mxPathname;
  vfs.zName = k_name;
  vfs.pAppData = real;
  vfs.xOpen = x_open;
  vfs.xDelete = x_delete;
  vfs.xAccess = x_access;
  vfs.xFullPathname = x_full_pathname;
  vfs.xDlOpen = x_dl_open;
  vfs.xDlError = x_dl_error;
  vfs.xDlSym = x_dl_sym;
  vfs.xDlClose = x_dl_close;
  vfs.xRandomness = x_randomness;
  vfs.xSleep = x_sleep;
  vfs.xCurrentTime = x_current_time;
  vfs.xGetLastError = x_get_last_error;
  vfs.xCurrentTimeInt64 = x_current_time_int64;
  return sqlite3_vfs_register(&vfs, 0) == SQLITE_OK ? k_name : nullptr;
}

}  // namespace

const char* wal_write_vfs() {
  static const char* const name = register_vfs();
  return name;
}

unsigned long long wal_file_writes() {
  return g_wal_writes.load(std::memory_order_relaxed);
}

}  // namespace budget
