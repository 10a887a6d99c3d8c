// The adapters behind the ports for one worker process: each backend's clients in a bounded
// pool (magic_link_backend_connections), borrowed for one call at a time by whichever pool
// thread runs a flow, and closed after magic_link_backend_idle_timeout unused.
#pragma once

#include "core/config/settings.h"
#include "core/ports/backends.h"

namespace magic_link {

// This process' pooled clients for `shared` (the http-level settings), made on first use.
Backends pooled_backends(const Settings& shared);

// Closes connections idle for longer than the idle timeout (the background task calls it).
void close_idle_connections(const Settings& shared);

}  // namespace magic_link
