#include "core/adapters/postgres/connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>

#include "core/ports/backend_error.h"

namespace magic_link {
namespace {

// libpq's messages span lines; one line each keeps the error log greppable.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Waits until the socket is ready or the deadline passes.
bool wait_socket(int fd, bool for_write, long long deadline_ms) {
  pollfd pfd{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  for (;;) {
    const long long left = deadline_ms - now_ms();
    if (left <= 0) return false;
    const int ready = poll(&pfd, 1, static_cast<int>(left));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

PgResult::PgResult(pg_result* result) : result_(result, PQclear) {}
int PgResult::rows() const {
  return PQntuples(result_.get());
}
bool PgResult::is_null(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}
std::string PgResult::text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}
int PgResult::integer(int row, int column) const {
  return std::stoi(text(row, column));
}
bool PgResult::boolean(int row, int column) const {
  return text(row, column) == "t";
}

PgConnection::PgConnection(std::string conninfo, Milliseconds timeout)
    : conninfo_(std::move(conninfo)), timeout_(timeout) {}

PgConnection::~PgConnection() {
  drop();
}

void PgConnection::drop() {
  if (connection_ != nullptr) PQfinish(connection_);
  connection_ = nullptr;
}

void PgConnection::throw_failure(const std::string& what, bool timed_out) {
  std::string why = timed_out ? "no answer in time" : "";
  if (!timed_out && connection_ != nullptr) why = one_line(PQerrorMessage(connection_));
  // A connection left mid-statement cannot be reused; a fresh one is made on the next call.
  if (timed_out || connection_ == nullptr || PQstatus(connection_) != CONNECTION_OK ||
      PQpipelineStatus(connection_) != PQ_PIPELINE_OFF) {
    drop();
  }
  throw BackendError(Backend::postgres, what, why, timed_out);
}

void PgConnection::connect() {
  // libpq's own connect_timeout is whole seconds (at least 2); the poll loop below is exact.
  const char* keywords[] = {"dbname", "application_name", nullptr};
  const char* values[] = {conninfo_.c_str(), "ngx_http_magic_link_module", nullptr};
  connection_ = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
  if (connection_ == nullptr)
    throw BackendError(Backend::postgres, "connect", "cannot allocate a connection");
  if (PQstatus(connection_) == CONNECTION_BAD) throw_failure("connect failed");
  for (;;) {
    const PostgresPollingStatusType state = PQconnectPoll(connection_);
    if (state == PGRES_POLLING_OK) break;
    if (state == PGRES_POLLING_FAILED) throw_failure("connect failed");
    if (!wait_socket(PQsocket(connection_), state == PGRES_POLLING_WRITING, deadline_ms_)) {
      throw_failure("connect failed", /*timed_out=*/true);
    }
  }
  if (PQsetnonblocking(connection_, 1) != 0) throw_failure("cannot switch to non-blocking mode");
  // NOTICEs (such as "already exists, skipping") would otherwise go to nginx's stderr.
  PQsetNoticeProcessor(
      connection_, [](void*, const char*) {}, nullptr);
}

void PgConnection::send_and_wait(bool sent, const std::string& what) {
  if (!sent) throw_failure(what);
  // Flush what libpq could not write at once, then wait for the whole answer.
  for (;;) {
    const int flushed = PQflush(connection_);
    if (flushed == 0) break;
    if (flushed < 0) throw_failure(what);
    if (!wait_socket(PQsocket(connection_), true, deadline_ms_)) throw_failure(what, true);
  }
  while (PQisBusy(connection_)) {
    if (!wait_socket(PQsocket(connection_), false, deadline_ms_)) throw_failure(what, true);
    if (PQconsumeInput(connection_) == 0) throw_failure(what);
  }
}

// Collects the results of the statement sent; the last one tells how it went.
PgResult PgConnection::last_result(const std::string& what) {
  // Owned from the start: waiting for the rest may throw (a timeout), and must not leak it.
  PgResult result(nullptr);
  while (pg_result* next = PQgetResult(connection_)) {
    result = PgResult(next);
    if (PQisBusy(connection_)) send_and_wait(true, what);
  }
  pg_result* last = result.get();
  const ExecStatusType status = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const std::string why = last ? one_line(PQresultErrorMessage(last)) : "no result";
    throw BackendError(Backend::postgres, what, why);
  }
  return result;
}

// Waits for the next result of a pipeline; null between one statement's results and the next's.
pg_result* PgConnection::next_result(const std::string& what) {
  while (PQisBusy(connection_)) {
    if (!wait_socket(PQsocket(connection_), false, deadline_ms_)) throw_failure(what, true);
    if (PQconsumeInput(connection_) == 0) throw_failure(what);
  }
  return PQgetResult(connection_);
}

// One round trip, and nothing a connection pooler could carry to another client: an unnamed
// statement (PgBouncer's transaction pooling knows no prepared statements) in a transaction
// whose SET LOCAL stops it on the server once we stop waiting. Inside a transaction already
// open (schema setup), only the timeout and the statement.
PgResult PgConnection::run(const std::string& name, const std::string& sql,
                           const std::vector<PgParam>& params) {
  deadline_ms_ = now_ms() + timeout_.count();
  if (connection_ == nullptr) connect();
  const bool own_transaction = PQtransactionStatus(connection_) == PQTRANS_IDLE;
  const std::string limit = "SET LOCAL statement_timeout = " + std::to_string(timeout_.count());
  std::vector<const char*> values;
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  const auto send = [&](const char* text, int count, const char* const* given) {
    return PQsendQueryParams(connection_, text, count, nullptr, given, nullptr, nullptr, 0) == 1;
  };
  const bool sent =
      PQenterPipelineMode(connection_) == 1 && (!own_transaction || send("BEGIN", 0, nullptr)) &&
      send(limit.c_str(), 0, nullptr) &&
      send(sql.c_str(), static_cast<int>(values.size()), values.data()) &&
      (!own_transaction || send("COMMIT", 0, nullptr)) && PQpipelineSync(connection_) == 1;
  send_and_wait(sent, name);
  // Statements in order: [BEGIN,] SET, the statement, [COMMIT]; then the sync point.
  const int wanted = own_transaction ? 2 : 1;
  PgResult answer(nullptr);
  std::string error;
  for (int statement = 0;;) {
    pg_result* next = next_result(name);
    if (next == nullptr) {
      ++statement;
      continue;
    }
    PgResult result(next);
    const ExecStatusType status = PQresultStatus(next);
    if (status == PGRES_PIPELINE_SYNC) break;
    if (status == PGRES_FATAL_ERROR && error.empty()) {
      error = one_line(PQresultErrorMessage(next));
    }
    if (statement == wanted) answer = result;
  }
  if (PQexitPipelineMode(connection_) != 1) throw_failure(name);
  if (!error.empty()) {
    // A failed statement leaves its transaction aborted: end ours, keep the caller's for it.
    if (own_transaction && PQtransactionStatus(connection_) == PQTRANS_INERROR) {
      send_and_wait(PQsendQuery(connection_, "ROLLBACK") == 1, name);
      last_result(name);
    }
    throw BackendError(Backend::postgres, name, error);
  }
  return answer;
}

void PgConnection::run_script(const std::string& sql) {
  deadline_ms_ = now_ms() + timeout_.count();
  if (connection_ == nullptr) connect();
  send_and_wait(PQsendQuery(connection_, sql.c_str()) == 1, "schema setup");
  last_result("schema setup");
}

}  // namespace magic_link
