// The adapters behind the ports, one set per thread: libpq, hiredis and libcurl handles are not
// shared between threads, and each thread keeps its connections open between tasks.
#pragma once

#include "core/config/settings.h"
#include "core/ports/backends.h"

namespace magic_link {

// This thread's clients for `shared` (the http-level settings), made on first use.
Backends thread_backends(const Settings& shared);

}  // namespace magic_link
