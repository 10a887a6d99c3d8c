// Small pieces every libcurl client here shares.
#pragma once

#include <curl/curl.h>

#include <memory>

#include "core/config/settings.h"

namespace magic_link {

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// One deadline for connecting and for the whole transfer; no signals (we run on pool threads).
inline void set_timeouts(CURL* curl, Milliseconds timeout) {
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
}

}  // namespace magic_link
