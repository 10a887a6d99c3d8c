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

struct CurlEasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

// One easy handle per pooled client, so its connection is reused between calls.
inline CurlEasy new_curl_handle() {
  CurlEasy curl(curl_easy_init());
  if (!curl) throw std::bad_alloc();
  return curl;
}

// One deadline for connecting and for the whole transfer; no signals (we run on pool threads).
inline void set_timeouts(CURL* curl, Milliseconds timeout) {
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
}

}  // namespace magic_link
