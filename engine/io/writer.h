// Writes a safetensors checkpoint the way HuggingFace does: shards laid out by
// io/shard_layout.h, and an index (io/index_writer.h) when there is more than one.
//
// Every tensor's place is fixed up front (the shapes are known from the plan), so tensors
// can be written in any order, each straight into its place: copied file to file from
// byte runs of mapped inputs, or written from memory.
//
// Copies run in the background on a few threads (and on the caller's, in finish()), in
// pieces of at most 32 MB, each copied in the kernel (copy_file_range), one thread per output
// file at a time (ext4, like most filesystems, serialises buffered writes to one file). When
// syncing to disk (the default), every written range is handed to the disk at once
// (sync_file_range), so the data goes out while the copy goes on and the fsync in finish()
// waits only for the tail.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/byte_runs.h"
#include "io/shard_layout.h"

namespace chainconv {

class MappedFile;

inline constexpr uint64_t kDefaultMaxShardSize = 5'000'000'000;

struct WriterSettings {
  // Threads copying at once: 0, one per core (at most 4); 1, the calling thread alone, in
  // finish().
  unsigned copy_threads = 0;
  // finish() flushes the files to disk (fsync) and written ranges are handed to the disk as
  // they are written. false leaves writeback to the kernel, as cp does: faster, but a crash
  // soon after may lose data that a rename has already made visible.
  bool sync_to_disk = true;
};

class SafetensorsWriter {
 public:
  // Lays out `tensors` in shards of `dir` (which must exist) and creates the files at full
  // size with their headers. `check` is called, on the calling thread only, between chunks
  // of writing and copying (to cancel, throw).
  SafetensorsWriter(std::string dir, std::vector<OutputTensor> tensors, uint64_t max_shard_size,
                    std::function<void()> check = {}, WriterSettings settings = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Called on the calling thread (from write, zero, copy and finish) with the number of
  // tensors and bytes completely written so far, whenever they have grown.
  void on_progress(std::function<void(size_t tensors, uint64_t bytes)> fn) {
    progress_ = std::move(fn);
  }

  const std::vector<std::string>& file_names() const { return names_; }
  bool has(const std::string& key) const { return slots_.count(key) > 0; }

  // Writes the tensor's bytes, `nbytes` of them, from memory.
  void write(const std::string& key, const void* data, uint64_t nbytes);
  // Copies the tensor's bytes from runs of `sources` (file to file, in the kernel when it can).
  // The copy is queued: it happens in the background or in finish(), which reports its errors.
  void copy(const std::string& key, const ByteRuns& runs,
            const std::vector<std::shared_ptr<MappedFile>>& sources);
  // Fills the tensor with zero bytes.
  void zero(const std::string& key);

  // Requires every tensor written, completes the queued copies (helping with them), flushes
  // the files to disk, and writes the index when there is more than one shard. Throws Error
  // naming what is missing or what failed.
  void finish();

 private:
  struct Slot {
    size_t file;
    uint64_t offset;
    uint64_t nbytes;
    bool written = false;
    size_t pieces_left = 0;  // queued copy pieces not yet done (guarded by mu_)
  };
  // Part of one tensor's copy: `runs` go to [dest, dest + runs.size()) of file `file`.
  struct Piece {
    const std::string* key;
    Slot* slot;
    ByteRuns runs;
    uint64_t dest;
    std::shared_ptr<const std::vector<std::shared_ptr<MappedFile>>> sources;
  };
  Slot& slot(const std::string& key, uint64_t nbytes);
  // Writes from memory, polling check_ between chunks when `poll` (the calling thread only).
  void pwrite_all(size_t file, const void* data, uint64_t nbytes, uint64_t offset,
                  bool poll = true);
  // Starts writeback of a range just written (asynchronous; finish() waits with fsync).
  void write_behind(size_t file, uint64_t offset, uint64_t nbytes) const;
  void copy_piece(const Piece& piece);
  void worker();
  std::deque<Piece>::iterator next_piece();  // the first queued piece whose file is free
  // Takes the next queued piece, runs it and records it done; false when the queue is empty.
  bool run_one();
  // Stops the copy threads, dropping queued pieces, and waits for them.
  void stop_threads();
  void report_progress();
  void wrote(uint64_t nbytes);

  std::string dir_;
  std::vector<std::string> names_;
  std::vector<int> fds_;
  std::vector<uint64_t> shard_bytes_;
  std::map<std::string, Slot> slots_;
  std::vector<OutputTensor> tensors_;                            // what the layout points into
  std::vector<std::pair<std::string, std::string>> weight_map_;  // key -> shard file
  std::function<void()> check_;
  std::function<void(size_t, uint64_t)> progress_;
  unsigned copy_threads_ = 1;
  bool sync_to_disk_ = true;

  std::mutex mu_;  // guards everything below
  std::condition_variable work_cv_, done_cv_;
  std::deque<Piece> queue_;
  size_t running_ = 0;           // pieces taken off the queue and not yet done
  std::vector<bool> file_busy_;  // a thread is copying into that file
  // Per file, copied bytes not yet handed to the disk (touched only by the thread that
  // holds the file).
  std::vector<std::pair<uint64_t, uint64_t>> stretch_;
  bool stopping_ = false;
  std::exception_ptr error_;
  size_t tensors_done_ = 0;
  uint64_t bytes_done_ = 0;
  size_t reported_tensors_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace chainconv
