#include "core/adapters/redis/redis_rate_limiter.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "core/ports/backend_error.h"

namespace magic_link {
namespace {

constexpr int kWindowSeconds = 3600;

// Counts a hit in a window that starts with the key's first hit; a key that somehow lost its
// expiry gets one again, so no counter lives forever.
constexpr const char* kHit = R"lua(
local function hit(key, window)
  local count = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    redis.call('EXPIRE', key, window)
    ttl = window
  end
  return count, ttl
end
)lua";

// KEYS: client and email of each request. ARGV: window, then client limit and email limit of
// each. Per request: client allowed, its ttl, email allowed, its ttl. A refused client does not
// spend the email's allowance, so a flood from one address cannot lock a user out.
const std::string kLinkRequestScript = std::string(kHit) + R"lua(
local window = tonumber(ARGV[1])
local verdicts = {}
for i = 1, #KEYS / 2 do
  local client_count, client_ttl = hit(KEYS[2 * i - 1], window)
  if client_count > tonumber(ARGV[2 * i]) then
    table.insert(verdicts, 0); table.insert(verdicts, client_ttl)
    table.insert(verdicts, 1); table.insert(verdicts, 0)
  else
    local email_count, email_ttl = hit(KEYS[2 * i], window)
    table.insert(verdicts, 1); table.insert(verdicts, client_ttl)
    table.insert(verdicts, email_count <= tonumber(ARGV[2 * i + 1]) and 1 or 0)
    table.insert(verdicts, email_ttl)
  end
end
return verdicts
)lua";

// KEYS: client. ARGV: limit. Reads without counting: only failures count.
const std::string kCheckScript = R"lua(
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count < tonumber(ARGV[1]) then return {1, 0} end
return {0, redis.call('TTL', KEYS[1])}
)lua";

// KEYS: client. ARGV: window.
const std::string kFailureScript = std::string(kHit) + R"lua(
local count, ttl = hit(KEYS[1], tonumber(ARGV[1]))
return {count, ttl}
)lua";

// KEYS: the use. ARGV: seconds to remember it. 1 the first time, 0 after.
const std::string kFirstUseScript = R"lua(
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then return {1} end
return {0}
)lua";

std::string sha1_hex(const std::string& text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : digest) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

const std::string kLinkRequestSha = sha1_hex(kLinkRequestScript);
const std::string kCheckSha = sha1_hex(kCheckScript);
const std::string kFailureSha = sha1_hex(kFailureScript);
const std::string kFirstUseSha = sha1_hex(kFirstUseScript);

timeval to_timeval(Milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000),
          static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

ReplyPtr run_command(redisContext* context, const std::vector<std::string>& words) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const auto& word : words) {
    argv.push_back(word.data());
    lengths.push_back(word.size());
  }
  return ReplyPtr(static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

LimitVerdict verdict(long long allowed, long long ttl) {
  return {allowed != 0, std::chrono::seconds(allowed != 0 ? 0 : std::max(ttl, 1LL))};
}

BackendError unexpected_reply(const char* step) {
  return BackendError(Backend::redis, step, "unexpected script reply", false, false);
}

}  // namespace

struct RedisRateLimiter::Reply {
  std::vector<long long> numbers;
};

RedisRateLimiter::RedisRateLimiter(RedisAddress address, Milliseconds timeout)
    : address_(std::move(address)), timeout_(timeout) {}

RedisRateLimiter::~RedisRateLimiter() {
  drop();
}

void RedisRateLimiter::drop() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

void RedisRateLimiter::connect() {
  const timeval timeout = to_timeval(timeout_);
  context_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, timeout);
  if (context_ == nullptr)
    throw BackendError(Backend::redis, "connect", "cannot allocate a connection");
  if (context_->err != 0) {
    const std::string why = context_->errstr;
    drop();
    throw BackendError(
        Backend::redis, "connect",
        "to " + address_.host + ":" + std::to_string(address_.port) + " failed: " + why,
        why.find("timed out") != std::string::npos);
  }
  redisSetTimeout(context_, timeout);
  auto command = [this](const std::vector<std::string>& words) {
    ReplyPtr reply = run_command(context_, words);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
      drop();
      throw BackendError(Backend::redis, "connect", "setup failed (" + words.front() + ")");
    }
  };
  if (!address_.password.empty()) command({"AUTH", address_.password});
  if (address_.database != 0) command({"SELECT", std::to_string(address_.database)});
}

RedisRateLimiter::Reply RedisRateLimiter::script(const char* step, const std::string& sha,
                                                 const std::string& source,
                                                 const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& args) {
  if (context_ == nullptr) connect();
  // EVALSHA first; a Redis that restarted or flushed its scripts answers NOSCRIPT, then EVAL
  // sends (and caches) the source once.
  for (const std::string* head : {&sha, &source}) {
    std::vector<std::string> words = {head == &sha ? "EVALSHA" : "EVAL", *head,
                                      std::to_string(keys.size())};
    words.insert(words.end(), keys.begin(), keys.end());
    words.insert(words.end(), args.begin(), args.end());
    errno = 0;
    ReplyPtr reply = run_command(context_, words);
    if (!reply) {
      const bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
      const std::string why = context_->errstr;
      drop();
      throw BackendError(Backend::redis, step,
                         timed_out ? "no answer in time" : "command failed: " + why, timed_out);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      const std::string why(reply->str, reply->len);
      if (head == &sha && why.rfind("NOSCRIPT", 0) == 0) continue;
      throw BackendError(Backend::redis, step, "script failed: " + why, false, false);
    }
    Reply result;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; ++i) {
      result.numbers.push_back(reply->element[i]->integer);
    }
    return result;
  }
  throw BackendError(Backend::redis, step, "script could not be loaded");
}

std::vector<LinkRequestVerdict> RedisRateLimiter::count_link_requests(
    const std::vector<LinkRequestLimits>& requests) {
  std::vector<std::string> keys, args = {std::to_string(kWindowSeconds)};
  for (const LinkRequestLimits& each : requests) {
    keys.insert(keys.end(), {each.client_key, each.email_key});
    args.insert(args.end(), {std::to_string(each.client_limit), std::to_string(each.email_limit)});
  }
  const Reply reply = script("count_link_request", kLinkRequestSha, kLinkRequestScript, keys, args);
  if (reply.numbers.size() != 4 * requests.size()) throw unexpected_reply("count_link_request");
  std::vector<LinkRequestVerdict> verdicts;
  for (size_t i = 0; i < reply.numbers.size(); i += 4) {
    verdicts.push_back({verdict(reply.numbers[i], reply.numbers[i + 1]),
                        verdict(reply.numbers[i + 2], reply.numbers[i + 3])});
  }
  return verdicts;
}

LimitVerdict RedisRateLimiter::check_redemptions(std::string_view client_key, int limit) {
  const Reply reply = script("check_redemptions", kCheckSha, kCheckScript,
                             {std::string(client_key)}, {std::to_string(limit)});
  if (reply.numbers.size() != 2) throw unexpected_reply("check_redemptions");
  return verdict(reply.numbers[0], reply.numbers[1]);
}

void RedisRateLimiter::count_failed_redemption(std::string_view client_key) {
  script("count_failed_redemption", kFailureSha, kFailureScript, {std::string(client_key)},
         {std::to_string(kWindowSeconds)});
}

bool RedisRateLimiter::first_use(std::string_view key, std::chrono::seconds remember) {
  const Reply reply = script("first_use", kFirstUseSha, kFirstUseScript, {std::string(key)},
                             {std::to_string(remember.count())});
  if (reply.numbers.size() != 1) throw unexpected_reply("first_use");
  return reply.numbers[0] == 1;
}

}  // namespace magic_link
