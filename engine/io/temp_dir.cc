#include "io/temp_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/read_file.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

constexpr const char* kTag = ".chainconv-";
constexpr size_t kRandom = 6;  // mkdtemp's XXXXXX
constexpr const char* kOwnerFile = "owner";
constexpr const char* kResultDir = "result";

// What identifies a process beyond its pid, which the kernel reuses: when it started (in
// clock ticks since boot), which boot, and on which host (a directory on a shared filesystem
// may belong to a process elsewhere, which kill() cannot see).
struct Owner {
  long pid = 0;
  std::string start, boot, host;
};

std::string read_small(const std::string& path) {
  try {
    return read_regular_file(path, 4096);
  } catch (const Error&) {
    return {};
  }
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Field 22 of /proc/PID/stat; empty when unknown.
std::string start_time_of(long pid) {
  const std::string stat = read_small("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');  // the command name before it may hold anything
  if (paren == std::string::npos) return {};
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i)
    if (i == 22) return field;
  return {};
}

std::string boot_id() { return trim(read_small("/proc/sys/kernel/random/boot_id")); }

std::string host_name() {
  char buffer[HOST_NAME_MAX + 1] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return {};
  return buffer;
}

Owner this_process() {
  Owner me;
  me.pid = static_cast<long>(getpid());
  me.start = start_time_of(me.pid);
  me.boot = boot_id();
  me.host = host_name();
  return me;
}

std::string owner_text(const Owner& o) {
  return "pid " + std::to_string(o.pid) + "\nstart " + o.start + "\nboot " + o.boot + "\nhost " +
         o.host + "\n";
}

bool parse_owner(const std::string& text, Owner& o) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    size_t space = line.find(' ');
    std::string name = line.substr(0, space),
                value = space == std::string::npos ? "" : line.substr(space + 1);
    if (name == "pid") o.pid = std::strtol(value.c_str(), nullptr, 10);
    if (name == "start") o.start = value;
    if (name == "boot") o.boot = value;
    if (name == "host") o.host = value;
  }
  return o.pid > 0;
}

// Why the owner can no longer be writing (empty: it may be).
std::string why_dead(const Owner& o, const Owner& me) {
  if (!o.boot.empty() && !me.boot.empty() && o.boot != me.boot)
    return "left by process " + std::to_string(o.pid) + " before this machine restarted";
  if (kill(static_cast<pid_t>(o.pid), 0) != 0 && errno == ESRCH)
    return "left by process " + std::to_string(o.pid) + ", which is no longer running";
  if (!o.start.empty()) {
    std::string start = start_time_of(o.pid);
    if (!start.empty() && start != o.start)
      return "left by process " + std::to_string(o.pid) +
             ", which is no longer running (the pid now names another process)";
  }
  return {};
}

// The temporary name's stem for target name `name`: the name itself when ".NAME.chainconv-
// XXXXXX" fits in NAME_MAX, otherwise a prefix of it and a hash of the whole, so that the
// name stays the same for every run (stale directories are found by it).
std::string stem_of(const std::string& name, const fs::path& parent) {
  long name_max = pathconf(parent.c_str(), _PC_NAME_MAX);
  if (name_max <= 0) name_max = NAME_MAX;
  const size_t room = static_cast<size_t>(name_max) - 1 - std::strlen(kTag) - kRandom;
  if (name.size() <= room) return name;
  uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  size_t cut = room - 1 - 16;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return name.substr(0, cut) + "~" + hex;
}

fs::path absolute_target(const std::string& target) {
  return fs::absolute(fs::path(without_trailing_slashes(target))).lexically_normal();
}

void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);  // best effort: the data itself was flushed and checked before
  ::close(fd);
}

}  // namespace

std::string without_trailing_slashes(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

TempDir TempDir::beside(const std::string& target) {
  const fs::path t = absolute_target(target);
  const fs::path parent = t.parent_path();
  std::string pattern =
      (parent / ("." + stem_of(t.filename().string(), parent) + kTag + "XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!mkdtemp(buffer.data()))
    throw Error(parent.string() + ": cannot create a temporary directory: " + std::strerror(errno));
  TempDir dir(buffer.data(), (fs::path(buffer.data()) / kResultDir).string());
  const std::string owner = (fs::path(dir.outer_) / kOwnerFile).string();
  const std::string text = owner_text(this_process());
  int fd = ::open(owner.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw Error(owner + ": cannot write: " + std::strerror(errno));
  ::close(fd);
  if (::mkdir(dir.path_.c_str(), 0777) != 0)
    throw Error(dir.path_ + ": cannot create: " + std::strerror(errno));
  return dir;
}

TempDir::TempDir(TempDir&& other) noexcept
    : outer_(std::move(other.outer_)), path_(std::move(other.path_)) {
  other.outer_.clear();
  other.path_.clear();
}

TempDir::~TempDir() { remove(); }

void TempDir::remove() {
  if (outer_.empty()) return;
  std::error_code ec;
  fs::remove_all(outer_, ec);  // best effort while unwinding
  outer_.clear();
  path_.clear();
}

void TempDir::commit(const std::string& target_name, bool replace, bool sync,
                     const std::function<void()>& before_rename) {
  const std::string target = without_trailing_slashes(target_name);
  // Make the contents durable before they become visible under the final name.
  if (sync) sync_dir(path_);
  if (before_rename) before_rename();
  std::error_code ec;
  const bool exists = fs::symlink_status(target, ec).type() != fs::file_type::not_found;
  const std::string parent = absolute_target(target).parent_path().string();
  if (!exists) {
    if (::rename(path_.c_str(), target.c_str()) != 0)
      throw Error(target + ": cannot move the result into place: " + std::strerror(errno));
  } else if (!replace) {
    throw ChoiceError(ChoiceError::Choice::replace_destination, target + ": already exists");
  } else if (renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
    // No atomic exchange here (filesystem or kernel): move the old one aside first.
    const std::string aside = (fs::path(outer_) / "old").string();
    if (::rename(target.c_str(), aside.c_str()) != 0)
      throw Error(target + ": cannot move the existing directory aside: " + std::strerror(errno));
    if (::rename(path_.c_str(), target.c_str()) != 0) {
      int err = errno;
      ::rename(aside.c_str(), target.c_str());  // put the old one back
      throw Error(target + ": cannot move the result into place: " + std::strerror(err));
    }
  }
  if (sync) sync_dir(parent);
  remove();  // the owner file, and the old contents when they were swapped out
}

std::vector<std::string> remove_stale_temp_dirs(const std::string& target) {
  std::vector<std::string> notes;
  const fs::path t = absolute_target(target);
  const fs::path parent = t.parent_path();
  const std::string prefix = "." + stem_of(t.filename().string(), parent) + kTag;
  std::error_code ec;
  const Owner me = this_process();
  for (const fs::directory_entry& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != prefix.size() + kRandom || name.compare(0, prefix.size(), prefix) != 0)
      continue;
    std::error_code type_ec;
    if (!entry.is_directory(type_ec) || entry.is_symlink(type_ec)) continue;
    const std::string path = entry.path().string();
    Owner owner;
    if (!parse_owner(read_small((entry.path() / kOwnerFile).string()), owner)) {
      notes.push_back("left " + path +
                      " alone: it records no owner (made by an older chainconv, or just being "
                      "made; remove it if no conversion to " +
                      target + " is running)");
      continue;
    }
    if (!owner.host.empty() && !me.host.empty() && owner.host != me.host) {
      notes.push_back("left " + path + " alone: it belongs to process " +
                      std::to_string(owner.pid) + " on host " + owner.host);
      continue;
    }
    const std::string why = why_dead(owner, me);
    if (why.empty()) {
      notes.push_back("left " + path + " alone: process " + std::to_string(owner.pid) +
                      " is still writing it");
      continue;
    }
    std::error_code remove_ec;
    fs::remove_all(entry.path(), remove_ec);
    notes.push_back(remove_ec
                        ? "could not remove " + path + " (" + why + "): " + remove_ec.message()
                        : "removed " + path + ", a temporary directory " + why);
  }
  return notes;
}

}  // namespace chainconv
