#include "io/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/dtypes.h"
#include "core/error.h"
#include "core/text.h"
#include "io/checkpoint.h"
#include "io/index_writer.h"
#include "io/mapped_file.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

constexpr uint64_t kCopyChunk = 64ull << 20;
constexpr uint64_t kPiece = 32ull << 20;  // the most one copy thread takes at a time
constexpr unsigned kMaxCopyThreads = 4;

}  // namespace

SafetensorsWriter::SafetensorsWriter(std::string dir, std::vector<OutputTensor> tensors,
                                     uint64_t max_shard_size, std::function<void()> check,
                                     WriterSettings settings)
    : dir_(std::move(dir)), check_(std::move(check)), sync_to_disk_(settings.sync_to_disk) {
  copy_threads_ = settings.copy_threads;
  if (copy_threads_ == 0)
    copy_threads_ = std::clamp(std::thread::hardware_concurrency(), 1u, kMaxCopyThreads);
  tensors_ = std::move(tensors);
  const std::vector<ShardLayout> shards = layout_shards(tensors_, max_shard_size, check_);
  try {
    for (size_t s = 0; s < shards.size(); ++s) {
      if (check_) check_();
      const ShardLayout& shard = shards[s];
      names_.push_back(shard.name);
      const std::string path = (fs::path(dir_) / shard.name).string();
      const std::string& text = shard.header;
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) throw Error(path + ": cannot create: " + std::strerror(errno));
      fds_.push_back(fd);
      const uint64_t file_size = shard.file_size();
      int rc = posix_fallocate(fd, 0, static_cast<off_t>(file_size));
      if (rc == EOPNOTSUPP || rc == EINVAL)
        rc = ftruncate(fd, static_cast<off_t>(file_size)) == 0 ? 0 : errno;
      if (rc != 0)
        throw Error(path + ": cannot make room for " + std::to_string(file_size) +
                    " bytes: " + std::strerror(rc));
      unsigned char length[8];
      for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(text.size() >> (8 * i));
      pwrite_all(s, length, 8, 0);
      pwrite_all(s, text.data(), text.size(), 8);
      shard_bytes_.push_back(shard.data_size);
      for (const ShardLayout::Place& place : shard.places) {
        slots_[place.tensor->key] = Slot{s, place.offset, place.tensor->nbytes};
        weight_map_.emplace_back(place.tensor->key, shard.name);
      }
    }
  } catch (...) {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    throw;
  }
}

SafetensorsWriter::~SafetensorsWriter() {
  stop_threads();
  for (int fd : fds_)
    if (fd >= 0) ::close(fd);
}

SafetensorsWriter::Slot& SafetensorsWriter::slot(const std::string& key, uint64_t nbytes) {
  auto it = slots_.find(key);
  if (it == slots_.end()) throw Error("internal: tensor '" + key + "' was not planned for output");
  if (it->second.written) throw Error("internal: tensor '" + key + "' written twice");
  if (it->second.nbytes != nbytes)
    throw Error("tensor '" + key + "' has " + std::to_string(nbytes) + " bytes but " +
                std::to_string(it->second.nbytes) + " were planned");
  return it->second;
}

void SafetensorsWriter::pwrite_all(size_t file, const void* data, uint64_t nbytes, uint64_t offset,
                                   bool poll) {
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    ssize_t n = ::pwrite(fds_[file], p, std::min(nbytes, kCopyChunk), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error((fs::path(dir_) / names_[file]).string() +
                  ": write failed: " + std::strerror(errno));
    write_behind(file, offset, static_cast<uint64_t>(n));
    p += n;
    offset += static_cast<uint64_t>(n);
    nbytes -= static_cast<uint64_t>(n);
    if (nbytes > 0 && poll && check_) check_();
  }
}

void SafetensorsWriter::write_behind(size_t file, uint64_t offset, uint64_t nbytes) const {
  // Advisory: without it the kernel writes back later and fsync waits for all of it.
  if (!sync_to_disk_) return;
  sync_file_range(fds_[file], static_cast<off64_t>(offset), static_cast<off64_t>(nbytes),
                  SYNC_FILE_RANGE_WRITE);
}

void SafetensorsWriter::wrote(uint64_t nbytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++tensors_done_;
    bytes_done_ += nbytes;
  }
  report_progress();
}

void SafetensorsWriter::report_progress() {
  if (!progress_) return;
  size_t tensors;
  uint64_t bytes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tensors = tensors_done_;
    bytes = bytes_done_;
  }
  if (tensors == reported_tensors_) return;
  reported_tensors_ = tensors;
  progress_(tensors, bytes);
}

void SafetensorsWriter::write(const std::string& key, const void* data, uint64_t nbytes) {
  Slot& s = slot(key, nbytes);
  pwrite_all(s.file, data, nbytes, s.offset);
  s.written = true;
  wrote(nbytes);
}

void SafetensorsWriter::zero(const std::string& key) {
  Slot& s = slot(key, slots_.at(key).nbytes);
  std::vector<char> zeros(std::min<uint64_t>(s.nbytes, kCopyChunk), 0);
  for (uint64_t done = 0; done < s.nbytes;) {
    uint64_t n = std::min<uint64_t>(zeros.size(), s.nbytes - done);
    pwrite_all(s.file, zeros.data(), n, s.offset + done);
    done += n;
  }
  s.written = true;
  wrote(s.nbytes);
}

void SafetensorsWriter::copy(const std::string& key, const ByteRuns& runs,
                             const std::vector<std::shared_ptr<MappedFile>>& sources) {
  Slot& s = slot(key, runs.size());
  for (const ByteRun& run : runs.runs()) {
    const MappedFile& src = *sources.at(run.source);
    if (run.offset + run.length > src.size())
      throw Error(src.path() + ": tensor '" + key + "' reads past the end of the file");
  }
  s.written = true;
  if (runs.size() == 0) return wrote(0);
  auto shared = std::make_shared<const std::vector<std::shared_ptr<MappedFile>>>(sources);
  const std::string* name = &slots_.find(key)->first;
  std::vector<Piece> pieces;
  for (uint64_t begin = 0; begin < runs.size(); begin += kPiece) {
    const uint64_t end = std::min(runs.size(), begin + kPiece);
    pieces.push_back(Piece{name, &s, runs.slice(begin, end), s.offset + begin, shared});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) std::rethrow_exception(error_);
    s.pieces_left = pieces.size();
    for (Piece& p : pieces) queue_.push_back(std::move(p));
    file_busy_.resize(fds_.size(), false);
    stretch_.resize(fds_.size());
    while (threads_.size() + 1 < std::min<size_t>(copy_threads_, fds_.size()))
      threads_.emplace_back([this] { worker(); });
  }
  work_cv_.notify_all();
  report_progress();
}

void SafetensorsWriter::copy_piece(const Piece& piece) {
  const Slot& s = *piece.slot;
  uint64_t out = piece.dest;
  for (const ByteRun& run : piece.runs.runs()) {
    const MappedFile& src = *piece.sources->at(run.source);
    uint64_t done = 0;
    bool kernel_copy = true;
    while (done < run.length) {
      const uint64_t n = std::min(kCopyChunk, run.length - done);
      if (kernel_copy) {
        loff_t in_off = static_cast<loff_t>(run.offset + done),
               out_off = static_cast<loff_t>(out + done);
        ssize_t got = copy_file_range(src.fd(), &in_off, fds_[s.file], &out_off, n, 0);
        if (got > 0) {
          done += static_cast<uint64_t>(got);
          continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                        errno == EOPNOTSUPP || errno == EBADF || errno == EPERM)) {
          kernel_copy = false;  // e.g. across filesystems on an older kernel: copy through memory
          continue;
        }
        if (got == 0)
          throw Error(src.path() + ": unexpected end of file copying tensor '" + *piece.key + "'");
        throw Error((fs::path(dir_) / names_[s.file]).string() + ": copying tensor '" + *piece.key +
                    "' failed: " + std::strerror(errno));
      }
      pwrite_all(s.file, src.data() + run.offset + done, n, out + done, /*poll=*/false);
      src.release(run.offset + done, n);
      done += n;
    }
    out += run.length;
  }
  // Hand the disk contiguous stretches of at least a piece, not each small tensor alone.
  // Only one thread copies into a file at a time, so its stretch needs no lock.
  auto& [begin, end] = stretch_[s.file];
  if (end != piece.dest) {
    if (end > begin) write_behind(s.file, begin, end - begin);
    begin = piece.dest;
  }
  end = piece.dest + piece.runs.size();
  if (end - begin >= kPiece) {
    write_behind(s.file, begin, end - begin);
    begin = end;
  }
}

std::deque<SafetensorsWriter::Piece>::iterator SafetensorsWriter::next_piece() {
  // One thread per file: buffered writes to one file take its inode lock, so two threads
  // writing the same file take turns instead of copying at once.
  return std::find_if(queue_.begin(), queue_.end(),
                      [&](const Piece& p) { return !file_busy_[p.slot->file]; });
}

bool SafetensorsWriter::run_one() {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return false;
  auto it = next_piece();
  if (it == queue_.end()) return false;
  Piece piece = std::move(*it);
  queue_.erase(it);
  ++running_;
  file_busy_[piece.slot->file] = true;
  lock.unlock();
  std::exception_ptr error;
  try {
    copy_piece(piece);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  --running_;
  file_busy_[piece.slot->file] = false;
  if (error) {
    if (!error_) error_ = error;
    queue_.clear();
  } else if (--piece.slot->pieces_left == 0) {
    ++tensors_done_;
    bytes_done_ += piece.slot->nbytes;
  }
  lock.unlock();
  done_cv_.notify_all();
  work_cv_.notify_all();  // its file is free for the next piece
  return true;
}

void SafetensorsWriter::worker() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || next_piece() != queue_.end(); });
      if (stopping_) return;
    }
    run_one();
  }
}

void SafetensorsWriter::stop_threads() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void SafetensorsWriter::finish() {
  for (const auto& [key, s] : slots_)
    if (!s.written) throw Error("internal: tensor '" + key + "' was planned but never written");
  // Copy along with the threads; on cancellation or an error, stop them.
  try {
    while (true) {
      if (check_) check_();
      report_progress();
      if (run_one()) continue;
      std::unique_lock<std::mutex> lock(mu_);
      if (error_) std::rethrow_exception(error_);
      if (queue_.empty() && running_ == 0) break;
      done_cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  } catch (...) {
    stop_threads();
    throw;
  }
  stop_threads();
  report_progress();
  for (size_t f = 0; f < fds_.size(); ++f) {
    if (check_) check_();  // each fsync may wait on the disk for a while
    if ((sync_to_disk_ && fsync(fds_[f]) != 0) || ::close(fds_[f]) != 0) {
      int err = errno;
      fds_[f] = -1;
      throw Error((fs::path(dir_) / names_[f]).string() +
                  ": cannot flush to disk: " + std::strerror(err));
    }
    fds_[f] = -1;
  }
  if (names_.size() <= 1) return;
  uint64_t total = 0;
  for (uint64_t b : shard_bytes_) total += b;
  write_index((fs::path(dir_) / kIndexFile).string(), std::move(weight_map_), total);
}

}  // namespace chainconv
