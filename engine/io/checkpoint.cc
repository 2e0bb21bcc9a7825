#include "io/checkpoint.h"

#include <filesystem>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/json_parse.h"
#include "core/read_file.h"
#include "io/mapped_file.h"
#include "io/safetensors_index.h"

namespace fs = std::filesystem;

namespace chainconv {

using json = nlohmann::json;

Checkpoint Checkpoint::open(const std::string& dir, const std::function<bool()>& cancelled) {
  Checkpoint ckpt;
  ckpt.dir_ = dir;
  ckpt.files_ = std::make_shared<std::vector<SafetensorsHeader>>();
  if (!fs::is_directory(dir)) throw Error(dir + ": not a directory");
  const fs::path index_path = fs::path(dir) / kIndexFile;
  const fs::path single_path = fs::path(dir) / kSingleFile;
  std::map<std::string, std::string> weight_map;  // key -> file name, from the index
  std::vector<std::string> names;
  if (fs::exists(index_path)) {
    weight_map = parse_safetensors_index(index_path.string(),
                                         read_regular_file(index_path.string(), kMaxTextFileSize));
    std::set<std::string> unique;
    for (const auto& [key, name] : weight_map)
      if (unique.insert(name).second) names.push_back(name);
    for (const std::string& name : names)
      if (!fs::exists(fs::path(dir) / name))  // anything but a regular file is refused below
        throw Error(index_path.string() + ": names shard '" + name + "', which does not exist");
  } else if (fs::exists(single_path)) {
    names.push_back(kSingleFile);
  } else {
    throw Error(dir + ": no " + kSingleFile + " or " + kIndexFile +
                " (not a safetensors checkpoint)");
  }
  for (const std::string& name : names) {
    if (cancelled && cancelled()) throw Error("interrupted");
    ckpt.files_->push_back(read_safetensors_header((fs::path(dir) / name).string(), cancelled));
  }
  for (size_t f = 0; f < ckpt.files_->size(); ++f) {
    const SafetensorsHeader& header = (*ckpt.files_)[f];
    for (const TensorEntry& entry : header.tensors) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(entry.key);
        if (it == weight_map.end() || it->second != names[f])
          throw Error(header.path + ": tensor '" + entry.key + "' is not listed for this file in " +
                      kIndexFile);
      }
      auto [pos, inserted] = ckpt.tensors_.emplace(entry.key, Location{f, &entry});
      if (!inserted)
        throw Error(header.path + ": tensor '" + entry.key + "' is also in " +
                    (*ckpt.files_)[pos->second.file].path);
    }
  }
  for (const auto& [key, name] : weight_map)
    if (!ckpt.tensors_.count(key))
      throw Error(index_path.string() + ": tensor '" + key + "' is listed in shard '" + name +
                  "' but is not in it");
  ckpt.mappings_ = std::make_shared<std::vector<std::shared_ptr<MappedFile>>>(ckpt.files_->size());
  return ckpt;
}

const Checkpoint::Location& Checkpoint::locate(const std::string& key) const {
  auto it = tensors_.find(key);
  if (it == tensors_.end()) throw Error(dir_ + ": no tensor '" + key + "'");
  return it->second;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [key, loc] : tensors_) total += loc.entry->nbytes;
  return total;
}

std::shared_ptr<MappedFile> Checkpoint::mapped(size_t index) const {
  auto& slot = mappings_->at(index);
  if (!slot) {
    slot = MappedFile::open(files_->at(index).path);
    if (slot->size() != files_->at(index).file_size)
      throw Error(slot->path() + ": the file changed size since its header was read");
  }
  return slot;
}

std::vector<TensorSpec> Checkpoint::specs() const {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors_.size());
  for (const auto& [key, loc] : tensors_)
    specs.push_back({key, loc.entry->shape, loc.entry->dtype});
  return specs;
}

std::vector<TensorSpec> read_checkpoint_layout(const std::string& dir) {
  return Checkpoint::open(dir).specs();
}

std::string read_model_type(const std::string& dir) {
  fs::path path = fs::path(dir) / "config.json";
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw ChoiceError(ChoiceError::Choice::name_chain,
                      dir + ": no config.json (needed for the model_type)");
  return model_type_of(read_config_file(path.string()), path.string());
}

}  // namespace chainconv
