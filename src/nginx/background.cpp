#include "nginx/background.h"

#include "core/adapters/thread_clients.h"
#include "core/flows/outbox.h"
#include "nginx/config.h"
#include "nginx/logging.h"

namespace magic_link::ngx {
namespace {

constexpr ngx_msec_t kPollInterval = 1000;
constexpr ngx_msec_t kCleanupInterval = 10 * 60 * 1000;

// One per worker process; touched on the event loop only, except `report` and `cleanup_due`,
// which belong to the pool thread while `busy`.
struct BackgroundTask {
  MainConf* conf = nullptr;
  ngx_event_t timer{};
  ngx_thread_task_t* task = nullptr;
  bool busy = false;
  bool wake_again = false;
  bool failing = false;  // log a backend outage once, not every second
  ngx_msec_t last_cleanup = 0;
  bool cleanup_due = false;
  DeliveryReport report;
};

BackgroundTask sender;

void deliver(void*, ngx_log_t*) noexcept {
  try {
    sender.report = run_background_work(*sender.conf->shared, *sender.conf->sealer,
                                        thread_backends(*sender.conf->shared), sender.cleanup_due);
  } catch (const std::exception& e) {  // not a backend: a bug, or memory ran out
    sender.report = {};
    sender.report.log.push_back(
        {LogLine::Level::error, std::string("magic_link: background work failed: ") + e.what()});
  }
}

void post(ngx_log_t* log) {
  sender.cleanup_due = ngx_current_msec - sender.last_cleanup >= kCleanupInterval;
  if (sender.cleanup_due) sender.last_cleanup = ngx_current_msec;
  if (ngx_thread_task_post(sender.conf->thread_pool, sender.task) == NGX_OK) {
    sender.busy = true;
  } else {
    ngx_log_error(NGX_LOG_WARN, log, 0, "magic_link: background work: thread pool queue is full");
  }
}

void delivered(ngx_event_t* event) noexcept {
  sender.busy = false;
  log_lines(event->log, sender.report.log);
  const auto& failure = sender.report.failure;
  if (failure && !sender.failing) {
    const std::string line = failure->log_line("background work", " (retrying every second)");
    ngx_log_error(NGX_LOG_ERR, event->log, 0, "%s", line.c_str());
  } else if (!failure && sender.failing) {
    ngx_log_error(NGX_LOG_NOTICE, event->log, 0, "magic_link: background work: backends are back");
  }
  sender.failing = failure.has_value();
  // A full batch means more may be waiting; so may mail queued while this one ran.
  if (sender.wake_again ||
      sender.report.requests + sender.report.sent + sender.report.retrying + sender.report.dropped >
          0) {
    sender.wake_again = false;
    post(event->log);
  }
}

void tick(ngx_event_t* event) noexcept {
  if (!sender.busy) post(event->log);
  if (!ngx_exiting) ngx_add_timer(event, kPollInterval);
}

}  // namespace

ngx_int_t start_background(ngx_cycle_t* cycle) noexcept {
  auto* conf = static_cast<MainConf*>(
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_magic_link_module));
  if (conf == nullptr || !conf->used) return NGX_OK;
  sender.conf = conf;
  sender.task = ngx_thread_task_alloc(cycle->pool, 0);
  if (sender.task == nullptr) return NGX_ERROR;
  sender.task->handler = deliver;
  sender.task->event.handler = delivered;
  sender.task->event.data = &sender;
  sender.task->event.log = cycle->log;
  sender.timer.handler = tick;
  sender.timer.log = cycle->log;
  sender.timer.data = &sender;
  sender.timer.cancelable = 1;  // a shutting-down worker does not wait for it
  ngx_add_timer(&sender.timer, kPollInterval);
  return NGX_OK;
}

void wake_background() noexcept {
  if (sender.conf == nullptr) return;
  if (sender.busy) {
    sender.wake_again = true;
  } else {
    post(sender.timer.log);
  }
}

}  // namespace magic_link::ngx
