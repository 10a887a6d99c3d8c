#include "nginx/background.h"

#include <algorithm>

#include "core/adapters/pooled_backends.h"
#include "core/flows/outbox.h"
#include "nginx/config.h"
#include "nginx/logging.h"

namespace magic_link::ngx {
namespace {

// Looks for work every second while there is some (its own requests wake it at once); an idle
// worker looks less and less often, up to every 8 s, so the mail another host leased and left
// (it died) goes out within the lease (mail_lease, 20 s) and 8 s. Every second, in any case,
// connections idle for longer than magic_link_backend_idle_timeout are closed, so an idle worker
// holds none.
constexpr ngx_msec_t kTick = 1000;
// Under load, requests accepted within this long of the last look are looked at together: one
// bigger batch costs PostgreSQL much less than many small ones. A lone request is looked at
// at once.
constexpr ngx_msec_t kBatchGap = 50;
constexpr ngx_msec_t kMaxPollInterval = 8 * 1000;
constexpr ngx_msec_t kCleanupInterval = 10 * 60 * 1000;

// One per worker process; touched on the event loop only, except `report`, `work_due`,
// `cleanup_due` and `outbox`, which belong to the pool thread while `busy`.
struct BackgroundTask {
  MainConf* conf = nullptr;
  ngx_event_t timer{};
  ngx_event_t soon{};  // the next look, kBatchGap after the last
  ngx_thread_task_t* task = nullptr;
  bool busy = false;
  bool wake_again = false;
  bool failing = false;  // log a backend outage once, not every second
  bool work_due = false;
  ngx_msec_t interval = kTick;  // between looks for work
  ngx_msec_t last_look = 0;
  ngx_msec_t last_cleanup = 0;
  bool cleanup_due = false;
  DeliveryReport report;
  OutboxMemory outbox;
};

BackgroundTask background;

void run(void*, ngx_log_t*) noexcept {
  const Settings& shared = *background.conf->shared;
  try {
    background.report = {};
    if (background.work_due) {
      const MailMaker maker{*background.conf->sealer, *background.conf->template_sets};
      background.report = run_background_work(shared, maker, pooled_backends(shared),
                                              background.cleanup_due, background.outbox);
    }
    close_idle_connections(shared);
  } catch (const std::exception& e) {  // not a backend: a bug, or memory ran out
    background.report = {};
    background.report.log.push_back(
        {LogLine::Level::error, std::string("magic_link: background work failed: ") + e.what()});
  }
}

void post(ngx_log_t* log) {
  if (background.work_due) {
    background.last_look = ngx_current_msec;
    background.cleanup_due = ngx_current_msec - background.last_cleanup >= kCleanupInterval;
    if (background.cleanup_due) background.last_cleanup = ngx_current_msec;
  }
  if (ngx_thread_task_post(background.conf->thread_pool, background.task) == NGX_OK) {
    background.busy = true;
  } else {
    ngx_log_error(NGX_LOG_WARN, log, 0, "magic_link: background work: thread pool queue is full");
  }
}

// Work is due: looked at now, or kBatchGap after the last look began.
void look_soon(ngx_log_t* log) {
  background.work_due = true;
  const ngx_msec_t since = ngx_current_msec - background.last_look;
  if (since >= kBatchGap) {
    if (background.soon.timer_set) ngx_del_timer(&background.soon);
    post(log);
  } else if (!background.soon.timer_set) {
    ngx_add_timer(&background.soon, kBatchGap - since);
  }
}

void soon(ngx_event_t* event) noexcept {
  if (background.busy) {
    background.wake_again = true;
  } else if (background.work_due) {
    post(event->log);
  }
}

void finished(ngx_event_t* event) noexcept {
  background.busy = false;
  log_lines(event->log, background.report.log);
  bool worked = false;
  if (background.work_due) {  // else the run only closed idle connections
    const auto& failure = background.report.failure;
    if (failure && !background.failing) {
      const std::string line = failure->log_line("background work", " (retrying every second)");
      ngx_log_error(NGX_LOG_ERR, event->log, 0, "%s", line.c_str());
    } else if (!failure && background.failing) {
      ngx_log_error(NGX_LOG_NOTICE, event->log, 0,
                    "magic_link: background work: backends are back");
    }
    background.failing = failure.has_value();
    const DeliveryReport& done = background.report;
    worked = done.requests + done.sent + done.retrying + done.dropped > 0;
    background.interval =
        worked || background.failing ? kTick : std::min(2 * background.interval, kMaxPollInterval);
  }
  // A full batch means more may be waiting; so may mail queued while this one ran.
  const bool again = background.wake_again || worked;
  background.wake_again = false;
  background.work_due = false;
  if (again) look_soon(event->log);
}

void tick(ngx_event_t* event) noexcept {
  if (!background.busy) {
    background.work_due =
        background.work_due || ngx_current_msec - background.last_look >= background.interval;
    post(event->log);
  }
  if (!ngx_exiting) ngx_add_timer(event, kTick);
}

}  // namespace

ngx_int_t start_background(ngx_cycle_t* cycle) noexcept {
  auto* conf = static_cast<MainConf*>(
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_magic_link_module));
  if (conf == nullptr || !conf->used) return NGX_OK;
  background.conf = conf;
  background.task = ngx_thread_task_alloc(cycle->pool, 0);
  if (background.task == nullptr) return NGX_ERROR;
  background.task->handler = run;
  background.task->event.handler = finished;
  background.task->event.data = &background;
  background.task->event.log = cycle->log;
  background.timer.handler = tick;
  background.timer.log = cycle->log;
  background.timer.data = &background;
  background.timer.cancelable = 1;  // a shutting-down worker does not wait for it
  background.soon = background.timer;
  background.soon.handler = soon;
  ngx_add_timer(&background.timer, kTick);
  return NGX_OK;
}

void wake_background() noexcept {
  if (background.conf == nullptr) return;
  background.interval = kTick;
  if (background.busy) {
    background.wake_again = true;
  } else {
    look_soon(background.timer.log);
  }
}

}  // namespace magic_link::ngx
