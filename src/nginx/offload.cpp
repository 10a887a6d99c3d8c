#include "nginx/offload.h"

#include <memory>
#include <stdexcept>

#include "core/flows/request_link.h"
#include "nginx/config.h"
#include "nginx/mail_sender.h"

namespace magic_link::ngx {
namespace {

struct Job {
  std::function<Outcome()> work;
  Outcome outcome;
  ngx_http_request_t* request;
};

Job* job_of(void* task_ctx) {
  return *static_cast<Job**>(task_ctx);
}

// On a pool thread: nothing here may call nginx.
void run_job(void* data, ngx_log_t*) noexcept {
  Job* job = job_of(data);
  try {
    job->outcome = job->work();
  } catch (const std::exception& e) {
    job->outcome = backend_unavailable(e, "request");
  } catch (...) {
    job->outcome = backend_unavailable(std::runtime_error("unknown error"), "request");
  }
}

// Back on the event loop.
void job_done(ngx_event_t* event) noexcept {
  auto* task_ctx = static_cast<ngx_thread_task_t*>(event->data)->ctx;
  std::unique_ptr<Job> job(job_of(task_ctx));
  ngx_http_request_t* r = job->request;
  ngx_connection_t* connection = r->connection;
  r->main->blocked--;
  r->aio = 0;
  ngx_int_t rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
  try {
    log_lines(request_log(r), job->outcome.log);
    if (job->outcome.work_queued) wake_mail_sender();
    rc = send(r, job->outcome.response);
  } catch (const std::exception& e) {
    ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "magic_link: cannot answer: %s", e.what());
  }
  ngx_http_finalize_request(r, rc);
  ngx_http_run_posted_requests(connection);
}

bool add_header(ngx_http_request_t* r, std::string_view name, std::string_view value) {
  auto* header = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
  if (header == nullptr) return false;
  header->hash = 1;
  header->key = copy(r->pool, name);
  header->value = copy(r->pool, value);
  return header->key.data && header->value.data;
}

u_char* redacted_context(ngx_log_t* log, u_char* buf, size_t len) {
  const auto* ctx = static_cast<ngx_http_log_ctx_t*>(log->data);
  u_char* p = buf;
  if (ctx == nullptr || ctx->connection == nullptr) return p;
  p = ngx_snprintf(p, len, ", client: %V", &ctx->connection->addr_text);
  const ngx_http_request_t* r = ctx->request;
  if (r == nullptr) return p;
  const auto* cscf =
      static_cast<ngx_http_core_srv_conf_t*>(ngx_http_get_module_srv_conf(r, ngx_http_core_module));
  p = ngx_snprintf(p, len - (p - buf), ", server: %V, request: \"%V %V\"", &cscf->server_name,
                   &r->method_name, &r->uri);
  if (r->headers_in.host != nullptr) {
    p = ngx_snprintf(p, len - (p - buf), ", host: \"%V\"", &r->headers_in.host->value);
  }
  return p;
}

}  // namespace

ngx_log_t* request_log(ngx_http_request_t* r) {
  auto* log = static_cast<ngx_log_t*>(ngx_palloc(r->pool, sizeof(ngx_log_t)));
  if (log == nullptr) return r->connection->log;
  *log = *r->connection->log;
  log->handler = redacted_context;
  return log;
}

void log_lines(ngx_log_t* log, const std::vector<LogLine>& lines) {
  for (const auto& line : lines) {
    const ngx_uint_t level = line.level == LogLine::Level::error  ? NGX_LOG_ERR
                             : line.level == LogLine::Level::warn ? NGX_LOG_WARN
                                                                  : NGX_LOG_INFO;
    ngx_log_error(level, log, 0, "%s", line.text.c_str());
  }
}

ngx_int_t send(ngx_http_request_t* r, const Response& response) {
  if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  r->headers_out.status = response.status;
  r->headers_out.content_type = copy(r->pool, response.content_type);
  r->headers_out.content_type_len = r->headers_out.content_type.len;
  r->headers_out.content_length_n = static_cast<off_t>(response.body.size());
  for (const auto& [name, value] : response.headers) {
    if (!add_header(r, name, value)) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  if (response.body.empty()) r->header_only = 1;

  const ngx_int_t rc = ngx_http_send_header(r);
  if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) return rc;

  auto* buffer = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
  const ngx_str_t body = copy(r->pool, response.body);
  if (buffer == nullptr || body.data == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  buffer->pos = body.data;
  buffer->last = body.data + body.len;
  buffer->memory = 1;
  buffer->last_buf = (r == r->main) ? 1 : 0;
  buffer->last_in_chain = 1;
  ngx_chain_t out{buffer, nullptr};
  return ngx_http_output_filter(r, &out);
}

void offload(ngx_http_request_t* r, std::function<Outcome()> work) {
  ngx_thread_task_t* task = ngx_thread_task_alloc(r->pool, sizeof(Job*));
  if (task == nullptr) {
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    return;
  }
  auto job = std::make_unique<Job>(Job{std::move(work), {}, r});
  *static_cast<Job**>(task->ctx) = job.get();
  task->handler = run_job;
  task->event.data = task;
  task->event.handler = job_done;
  if (ngx_thread_task_post(main_conf(r).thread_pool, task) != NGX_OK) {
    ngx_log_error(NGX_LOG_ERR, request_log(r), 0,
                  "magic_link: thread pool queue is full, answering 503");
    ngx_http_finalize_request(r, send(r, json_unavailable()));
    return;
  }
  job.release();  // owned by the task until job_done
  // Like nginx's own thread tasks: the request may not be freed while a thread uses its job.
  r->main->blocked++;
  r->aio = 1;
}

}  // namespace magic_link::ngx
