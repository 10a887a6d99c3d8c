// The clients of the shared backends, one set per thread: libpq, hiredis and libcurl handles are
// not shared between threads, and each thread keeps its connections open between tasks.
#pragma once

#include "core/directus.h"
#include "core/link_store.h"
#include "core/mail.h"
#include "core/rate_limiter.h"
#include "core/seal.h"
#include "core/settings.h"

namespace magic_link {

struct Backends {
  RateLimiter& limiter;
  LinkStore& store;
  Mailer& mailer;
  SessionIssuer& directus;
};

// This thread's clients for `shared` (the http-level settings), made on first use.
Backends thread_backends(const Settings& shared);

}  // namespace magic_link
