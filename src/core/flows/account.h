// Who a browser is signed in as: the demo's success page, read from Directus itself.
#pragma once

#include <string>

#include "core/ports/backends.h"
#include "core/flows/outcome.h"
#include "core/config/settings.h"
#include "core/render/templates.h"

namespace magic_link {

// Refreshes the browser's Directus session (its `directus_refresh_token` cookie; Directus
// rotates it, so the new cookie is relayed), asks Directus whose session it is, and answers a
// page saying so; without a working session, a page linking to `login_path`.
Outcome signed_in_page(const Settings& settings, const Templates& templates,
                       const std::string& refresh_token, const std::string& login_path,
                       Backends backends);

}  // namespace magic_link
