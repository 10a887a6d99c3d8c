#include "core/adapters/mail/sendmail_mailer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

#include "core/ports/backend_error.h"
#include "core/render/mime.h"

extern char** environ;

namespace magic_link {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& why, bool timed_out = false) {
  throw BackendError(Backend::mail, "sendmail", "sendmail " + why, timed_out);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct Pipe {
  Fd read, write;
};

Pipe make_pipe() {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) fail(std::string("pipe failed: ") + std::strerror(errno));
  return {Fd(ends[0]), Fd(ends[1])};
}

// The child starts with default signal handling and nothing blocked (pool threads block every
// signal), in a process group of its own so a timeout kills what it started too, and with no
// descriptor of nginx's but the three pipes.
pid_t spawn(const std::vector<std::string>& args, const Pipe& input, const Pipe& output) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input.read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output.write.get(), STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, args[0].c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) fail("could not be run (" + args[0] + "): " + std::strerror(error));
  return pid;
}

// Writes `input`, drains what the child prints (so it never blocks on a full pipe) and returns
// its exit status once it exits; nothing if the deadline passes first. A child that leaves a
// background process holding the pipes open is done when it exits itself.
std::optional<int> run_to_exit(pid_t pid, std::string_view input, Pipe& to_child, Pipe& from_child,
                               Clock::time_point deadline) {
  fcntl(to_child.write.get(), F_SETFL, O_NONBLOCK);
  std::array<char, 4096> scratch;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) fail(std::string("waitpid failed: ") + std::strerror(errno));
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return std::nullopt;
    if (input.empty()) to_child.write.reset();  // end of the message
    std::array<pollfd, 2> watched{
        {{from_child.read.get(), POLLIN, 0}, {to_child.write.get(), POLLOUT, 0}}};
    // Short waits: the exit itself is seen by waitpid, not by poll.
    const auto wait = std::min<long long>(
        10, std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1);
    if (poll(watched.data(), watched.size(), static_cast<int>(wait)) <= 0) continue;
    if (watched[0].revents != 0 &&
        read(from_child.read.get(), scratch.data(), scratch.size()) <= 0) {
      from_child.read.reset();  // closed: poll ignores a negative descriptor from now on
    }
    if (watched[1].revents & (POLLERR | POLLHUP)) {
      input = {};  // it stopped reading; its exit status tells why
    } else if (watched[1].revents & POLLOUT) {
      const ssize_t n = write(to_child.write.get(), input.data(), input.size());
      if (n > 0) input.remove_prefix(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) input = {};
    }
  }
}

}  // namespace

void SendmailMailer::send(const MailMessage& mail, int /*link_id: sendmail has no place for it*/) {
  const MimeMessage message = render_mime(mail, Newlines::lf);
  const auto deadline = Clock::now() + timeout_;
  Pipe to_child = make_pipe();
  Pipe from_child = make_pipe();
  const pid_t pid = spawn({path_, "-i", "-f", message.sender, "--", mail.to}, to_child, from_child);
  to_child.read.reset();
  from_child.write.reset();
  const auto status = run_to_exit(pid, message.text, to_child, from_child, deadline);
  if (!status) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    fail("did not exit within " + std::to_string(timeout_.count()) + "ms; killed", true);
  }
  if (WIFSIGNALED(*status)) fail("killed by signal " + std::to_string(WTERMSIG(*status)));
  if (WEXITSTATUS(*status) != 0) {
    fail("exited with status " + std::to_string(WEXITSTATUS(*status)) +
         (WEXITSTATUS(*status) == 75 ? " (temporary failure)" : ""));
  }
}

void reap_children_ourselves() {
  signal(SIGCHLD, SIG_DFL);
}

}  // namespace magic_link
