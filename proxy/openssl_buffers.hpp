#pragma once
// proxy::install_openssl_buffer_cache — OpenSSL's TLS record buffers, kept for reuse per thread.
//
// Every connection runs with SSL_MODE_RELEASE_BUFFERS, so that an idle connection holds no record
// buffer (issue 19: memory per idle connection). The price was that OpenSSL allocated and freed a
// 16 KiB buffer around nearly every SSL_read and SSL_write: six per intercepted POST, each a
// large-bin malloc that first consolidates glibc's fast bins (malloc_consolidate, unlink_chunk:
// about 4 % of the worker's CPU under load). With the cache, OpenSSL's allocations go through
// functions of ours: a record buffer freed goes onto a short list of the thread that freed it and
// is handed out again by its next allocation of that size class; everything else is plain
// malloc/free with a 16-byte size header.

#include <cstddef>

namespace proxy {

// Installs the functions (CRYPTO_set_mem_functions). Must run before anything allocates through
// OpenSSL: first thing in main(). False when it is too late (nothing changes then).
bool install_openssl_buffer_cache();

namespace openssl_buffers {
// The functions as installed (tests call them directly).
void* allocate(std::size_t size, const char* file, int line);
void* reallocate(void* block, std::size_t size, const char* file, int line);
void release(void* block, const char* file, int line);
// Record buffers this thread keeps for reuse now.
std::size_t kept();
}  // namespace openssl_buffers

}  // namespace proxy
