// A PostgreSQL connection with a hard deadline on connect and on every statement.
// libpq's own calls block without limit; this drives its non-blocking API under poll() instead.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config/settings.h"

struct pg_conn;
struct pg_result;

namespace magic_link {

class PgResult {
 public:
  explicit PgResult(pg_result* result);  // owns it (PQclear)
  pg_result* get() const { return result_.get(); }
  int rows() const;
  bool is_null(int row, int column) const;
  std::string text(int row, int column) const;
  int integer(int row, int column) const;
  bool boolean(int row, int column) const;

 private:
  std::shared_ptr<pg_result> result_;
};

using PgParam = std::optional<std::string>;  // nullopt is SQL NULL

class PgConnection {
 public:
  PgConnection(std::string conninfo, Milliseconds timeout);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `sql` with text parameters, named `name` in errors; safe behind PgBouncer's transaction
  // pooling. Throws BackendError(Backend::postgres, ...) on failure or timeout; after a timeout
  // the connection is dropped and the next call reconnects.
  PgResult run(const std::string& name, const std::string& sql, const std::vector<PgParam>& params);

  // Runs several statements without parameters in one round trip (schema setup).
  void run_script(const std::string& sql);

  // Each call's deadline (connect and statement).
  Milliseconds timeout() const { return timeout_; }

 private:
  void connect();
  void drop();
  void send_and_wait(bool sent, const std::string& what);
  PgResult last_result(const std::string& what);
  pg_result* next_result(const std::string& what);
  [[noreturn]] void throw_failure(const std::string& what, bool timed_out = false);

  std::string conninfo_;
  Milliseconds timeout_;
  pg_conn* connection_ = nullptr;
  long long deadline_ms_ = 0;  // of the call in progress, on the monotonic clock
};

}  // namespace magic_link
