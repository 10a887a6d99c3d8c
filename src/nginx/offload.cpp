#include "nginx/offload.h"

#include <memory>
#include <vector>

#include "core/adapters/pooled_backends.h"
#include "nginx/background.h"
#include "nginx/config.h"
#include "nginx/logging.h"
#include "nginx/responses.h"

namespace magic_link::ngx {
namespace {

struct Job {
  std::function<Outcome()> work;
  Outcome outcome;
  std::string internal_error;  // an exception no flow should let out: answered 500
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
    job->internal_error = e.what();
  } catch (...) {
    job->internal_error = "unknown exception";
  }
}

// Holds `r` while a pool thread works for it: like nginx's own thread tasks, the request may
// not be freed meanwhile.
void hold(ngx_http_request_t* r) {
  r->main->blocked++;
  r->aio = 1;
}

// Back on the event loop, finished the way nginx finishes its own thread tasks
// (ngx_http_copy_thread_event_handler): the request's log context set, the block released, and
// no answer for a request that was terminated meanwhile (nginx waited for the task to end it).
void answer(ngx_http_request_t* r, const Outcome& outcome, const std::string& internal_error) {
  ngx_connection_t* connection = r->connection;
  ngx_http_set_log_request(connection->log, r);
  r->main->blocked--;
  r->aio = 0;
  if (outcome.work_queued) wake_background();

  ngx_int_t rc = NGX_ERROR;
  if (!r->done && !connection->error) {
    try {
      if (internal_error.empty()) {
        rc = respond(r, outcome);
      } else {
        ngx_log_error(NGX_LOG_ERR, request_log(r), 0,
                      "magic_link: request failed: internal error: %s", internal_error.c_str());
        rc = respond_unavailable(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
      }
    } catch (const std::exception& e) {
      ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "magic_link: cannot answer: %s", e.what());
      rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
  }
  ngx_http_finalize_request(r, rc);
  ngx_http_run_posted_requests(connection);
}

void job_done(ngx_event_t* event) noexcept {
  std::unique_ptr<Job> job(job_of(static_cast<ngx_thread_task_t*>(event->data)->ctx));
  answer(job->request, job->outcome, job->internal_error);
}

struct GatheredLinkRequest {
  ngx_http_request_t* request;
  LinkRequestJob job;
  std::function<Outcome(Outcome)> finish;
  Outcome outcome;
};

// Link requests read in one turn of the event loop, run as one pool task.
struct LinkRequestBatch {
  ngx_thread_task_t task{};
  const MainConf* conf = nullptr;
  std::vector<GatheredLinkRequest> requests;
  std::string internal_error;
};

std::unique_ptr<LinkRequestBatch> gathering;  // this turn's, until flush_link_requests
ngx_event_t flush_event;

void run_link_requests(void* data, ngx_log_t*) noexcept {
  auto* batch = static_cast<LinkRequestBatch*>(data);
  try {
    std::vector<LinkRequestJob> jobs;
    for (GatheredLinkRequest& each : batch->requests) jobs.push_back(std::move(each.job));
    std::vector<Outcome> outcomes =
        request_links(*batch->conf->sealer, jobs, pooled_backends(*batch->conf->shared));
    for (size_t i = 0; i < outcomes.size(); ++i) {
      GatheredLinkRequest& each = batch->requests[i];
      each.outcome = each.finish ? each.finish(std::move(outcomes[i])) : std::move(outcomes[i]);
    }
  } catch (const std::exception& e) {
    batch->internal_error = e.what();
  } catch (...) {
    batch->internal_error = "unknown exception";
  }
}

void link_requests_done(ngx_event_t* event) noexcept {
  std::unique_ptr<LinkRequestBatch> batch(
      static_cast<LinkRequestBatch*>(static_cast<ngx_thread_task_t*>(event->data)->ctx));
  for (const GatheredLinkRequest& each : batch->requests) {
    answer(each.request, each.outcome, batch->internal_error);
  }
}

// After the turn of the event loop that read them: this turn's link requests go to the pool.
void flush_link_requests(ngx_event_t*) noexcept {
  std::unique_ptr<LinkRequestBatch> batch = std::move(gathering);
  if (!batch) return;
  batch->task.ctx = batch.get();
  batch->task.handler = run_link_requests;
  batch->task.event.data = &batch->task;
  batch->task.event.handler = link_requests_done;
  batch->task.event.log = ngx_cycle->log;
  if (ngx_thread_task_post(batch->conf->thread_pool, &batch->task) == NGX_OK) {
    batch.release();  // owned by the task until link_requests_done
    return;
  }
  for (const GatheredLinkRequest& each : batch->requests) {
    ngx_http_request_t* r = each.request;
    ngx_connection_t* connection = r->connection;
    ngx_log_error(NGX_LOG_ERR, request_log(r), 0,
                  "magic_link: thread pool queue is full, answering 503");
    r->main->blocked--;
    r->aio = 0;
    const bool gone = r->done || connection->error;
    ngx_http_finalize_request(
        r, gone ? NGX_ERROR : respond_unavailable(r, NGX_HTTP_SERVICE_UNAVAILABLE));
    ngx_http_run_posted_requests(connection);
  }
}

struct Step {
  std::function<void()> work;
  std::function<void()> done;
  ngx_http_request_t* request;
};

void run_step(void* data, ngx_log_t*) noexcept {
  Step* step = *static_cast<Step**>(data);
  try {
    step->work();
  } catch (...) {  // the work reports its own failures; this one leaves nothing found
  }
}

// As ngx_http_copy_thread_event_handler: a finished request is left to its connection's
// handler; any other goes on from where it waited (its phases, or, when it was terminated
// meanwhile, the finalizer nginx set while the task held it).
void step_done(ngx_event_t* event) noexcept {
  std::unique_ptr<Step> step(
      *static_cast<Step**>(static_cast<ngx_thread_task_t*>(event->data)->ctx));
  ngx_http_request_t* r = step->request;
  ngx_connection_t* connection = r->connection;
  ngx_http_set_log_request(connection->log, r);
  r->main->blocked--;
  r->aio = 0;
  step->done();
  if (r->done) {
    connection->write->handler(connection->write);
  } else {
    r->write_event_handler(r);
    ngx_http_run_posted_requests(connection);
  }
}

}  // namespace

ngx_int_t offload_and_resume(ngx_http_request_t* r, std::function<void()> work,
                             std::function<void()> done) {
  ngx_thread_task_t* task = ngx_thread_task_alloc(r->pool, sizeof(Step*));
  if (task == nullptr) return NGX_ERROR;
  auto step = std::make_unique<Step>(Step{std::move(work), std::move(done), r});
  *static_cast<Step**>(task->ctx) = step.get();
  task->handler = run_step;
  task->event.data = task;
  task->event.handler = step_done;
  if (ngx_thread_task_post(main_conf(r).thread_pool, task) != NGX_OK) return NGX_ERROR;
  step.release();  // owned by the task until step_done
  hold(r);
  return NGX_AGAIN;
}

void offload(ngx_http_request_t* r, std::function<Outcome()> work) {
  ngx_thread_task_t* task = ngx_thread_task_alloc(r->pool, sizeof(Job*));
  if (task == nullptr) {
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    return;
  }
  auto job = std::make_unique<Job>(Job{std::move(work), {}, {}, r});
  *static_cast<Job**>(task->ctx) = job.get();
  task->handler = run_job;
  task->event.data = task;
  task->event.handler = job_done;
  if (ngx_thread_task_post(main_conf(r).thread_pool, task) != NGX_OK) {
    ngx_log_error(NGX_LOG_ERR, request_log(r), 0,
                  "magic_link: thread pool queue is full, answering 503");
    ngx_http_finalize_request(r, respond_unavailable(r, NGX_HTTP_SERVICE_UNAVAILABLE));
    return;
  }
  job.release();  // owned by the task until job_done
  hold(r);
}

void offload_link_request(ngx_http_request_t* r, LinkRequestJob job,
                          std::function<Outcome(Outcome)> finish) {
  if (!gathering) {
    gathering = std::make_unique<LinkRequestBatch>();
    gathering->conf = &main_conf(r);
    flush_event.handler = flush_link_requests;
    flush_event.log = ngx_cycle->log;
    ngx_post_event(&flush_event, &ngx_posted_events);
  }
  gathering->requests.push_back({r, std::move(job), std::move(finish), {}});
  hold(r);
}

}  // namespace magic_link::ngx
