// The backends a flow talks to, as ports: the flows never see an adapter.
#pragma once

#include "core/ports/link_store.h"
#include "core/ports/mailer.h"
#include "core/ports/rate_limiter.h"
#include "core/ports/session_issuer.h"

namespace magic_link {

struct Backends {
  RateLimiter& limiter;
  LinkStore& store;
  Mailer& mailer;
  SessionIssuer& directus;
};

}  // namespace magic_link
