// libFuzzer target: the shipped chains on key sets the input spells. Lowering (program/lower.cc,
// every op's lowering, the key sort) and chainlint's layout checks (both roundtrips, coverage)
// run on keys made of the words of the chains' own text and numbers, with small shapes and
// dtypes: the key sets come close to real ones, and take every turn a real one can (gaps,
// duplicates, prime keys among HF ones, odd dims). A key set a chain cannot convert must
// throw Error or give findings; a crash, a hang, another exception or a sanitizer report is a
// finding. Four oracles on the way: sort_by_bytes puts the keys in std::sort's order, a
// program's outputs are in strict key order, a key set listing a key twice is refused, and
// lowering a layer at a time gives lowering whole's program or error.
//
// The input: byte 0 picks the chain (the prime chains in file order, then the torchtitan ones),
// byte 1 the direction, the check and the expert offset; then per key a segment count, the segments
// (a byte below 0x7f a word, 0x7f a length and that many bytes, above a number), a dim count, the
// dims and a dtype.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "check/symbolic.h"
#include "core/dtypes.h"
#include "core/error.h"
#include "core/key_sort.h"
#include "core/read_file.h"
#include "dsl/chain.h"
#include "program/lower.h"
#include "program/lower_by_layer.h"
#include "registry/chain_registry.h"

namespace {

using namespace chainconv;

constexpr size_t kMaxKeys = 512;  // per input: each run stays fast

struct Shipped {
  std::vector<std::unique_ptr<Chain>> chains;
  std::vector<std::string> words;  // the identifiers of every chain's text, sorted
};

const Shipped& shipped() {
  static const Shipped s = [] {
    Shipped s;
    std::set<std::string> words;
    std::vector<std::string> files;
    for (const char* target : {"prime", "torchtitan"}) {
      const auto more = ChainRegistry::scan({CHAINCONV_CHAINS_DIR}, target).chain_files();
      files.insert(files.end(), more.begin(), more.end());
    }
    for (const std::string& file : files) {
      s.chains.push_back(load_chain_file(file));
      const std::string text = read_regular_file(file, kMaxTextFileSize, "chain file");
      std::string word;
      for (char c : text + " ") {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
          word += c;
        } else {
          if (!word.empty() && !std::isdigit(static_cast<unsigned char>(word[0])))
            words.insert(word);
          word.clear();
        }
      }
    }
    s.words.assign(words.begin(), words.end());
    if (s.chains.empty() || s.words.empty()) std::abort();  // the fuzzer would test nothing
    return s;
  }();
  return s;
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t next() { return at_ < size_ ? data_[at_++] : 0; }

 private:
  const uint8_t* data_;
  size_t size_, at_ = 0;
};

constexpr uint8_t kLiteral = 0x7f;  // a segment spelled out: a length, then its bytes

const char* const kDtypes[] = {"BF16", "F32", "F16", "F8_E4M3", "I64", "U8", "F8_E8M0"};

std::vector<TensorSpec> key_set(Input& in, const std::vector<std::string>& words) {
  std::vector<TensorSpec> specs;
  while (!in.empty() && specs.size() < kMaxKeys) {
    TensorSpec spec;
    const int segments = 1 + in.next() % 8;
    for (int i = 0; i < segments; ++i) {
      const uint8_t b = in.next();
      if (i) spec.key += '.';
      if (b == kLiteral) {
        for (int n = in.next() % 64; n > 0; --n) spec.key += static_cast<char>(in.next());
      } else {
        spec.key += b < 0x80 ? words[b % words.size()] : std::to_string(b - 0x80);
      }
    }
    const int dims = in.next() % 4;
    for (int i = 0; i < dims; ++i) spec.shape.push_back(in.next() % 9);
    spec.dtype = &dtype_named(kDtypes[in.next() % std::size(kDtypes)]);
    specs.push_back(std::move(spec));
  }
  return specs;
}

// Checks the sort against std::sort; returns whether some key is listed twice.
bool check_sort(const std::vector<TensorSpec>& specs) {
  std::vector<std::string_view> keys;
  for (const TensorSpec& s : specs) keys.push_back(s.key);
  std::vector<uint32_t> order(keys.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  sort_by_bytes(order, keys);
  std::vector<std::string_view> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < order.size(); ++i)
    if (keys[order[i]] != sorted[i]) std::abort();
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

void check_outputs_sorted(const Program& program) {
  const std::vector<uint32_t>& outputs = program.outputs();
  for (size_t i = 1; i < outputs.size(); ++i)
    if (!(program.name(outputs[i - 1]) < program.name(outputs[i]))) std::abort();
}

// The program `make` returns, or nullopt and its Error's text in `error`.
template <typename Make>
std::optional<Program> lowered(Make&& make, std::string& error) {
  try {
    return make();
  } catch (const Error& e) {
    error = e.what();
    return std::nullopt;
  }
}

// Lowering a layer at a time must give lower()'s program (up to the order of steps and
// slots) or lower()'s error, word for word.
void check_by_layer(const Chain& chain, Direction direction, const std::vector<TensorSpec>& specs,
                    const Options& options, const Program* whole, const std::string& whole_error) {
  std::string split_error;
  const std::optional<Program> split =
      lowered([&] { return lower_by_layer(chain, direction, specs, options); }, split_error);
  if (split_error != whole_error || (whole != nullptr) != split.has_value()) std::abort();
  if (!whole) return;
  check_outputs_sorted(*split);
  if (split->inputs() != whole->inputs() || split->slots() != whole->slots() ||
      split->steps().size() != whole->steps().size() ||
      split->outputs().size() != whole->outputs().size() ||
      split->warnings().size() != whole->warnings().size())
    std::abort();
  for (uint32_t s = 0; s < whole->inputs(); ++s)
    if (split->name(s) != whole->name(s)) std::abort();
  for (size_t i = 0; i < whole->outputs().size(); ++i) {
    const uint32_t a = whole->outputs()[i], b = split->outputs()[i];
    const TensorDesc &x = whole->desc(a), &y = split->desc(b);
    if (whole->name(a) != split->name(b) || x.dtype != y.dtype || x.shape != y.shape ||
        x.strides != y.strides || x.offset != y.offset || x.expert_dim != y.expert_dim ||
        whole->name(x.storage) != split->name(y.storage) ||
        (whole->producer(a) < 0) != (split->producer(b) < 0))
      std::abort();
    if (whole->producer(a) >= 0) {
      const Step& p = whole->step(static_cast<size_t>(whole->producer(a)));
      const Step& q = split->step(static_cast<size_t>(split->producer(b)));
      if (p.kind != q.kind || p.op != q.op || p.operands != q.operands) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Shipped& s = shipped();
  Input in(data, size);
  const Chain& chain = *s.chains[in.next() % s.chains.size()];
  const uint8_t mode = in.next();
  Options options;
  options.expert_offset = (mode >> 2) % 8;
  std::vector<TensorSpec> specs = key_set(in, s.words);
  const bool twice = check_sort(specs);
  try {
    if (mode & 1) {
      check_on_layout(chain, specs, options);
    } else {
      const Direction direction = mode & 2 ? Direction::to_hf : Direction::to_prime;
      std::string error;
      const std::optional<Program> whole =
          lowered([&] { return lower(chain, direction, specs, options); }, error);
      check_by_layer(chain, direction, specs, options, whole ? &*whole : nullptr, error);
      if (!whole) return 0;
      check_outputs_sorted(*whole);
      if (twice) std::abort();  // a key listed twice must be refused
    }
  } catch (const Error&) {
  }
  return 0;
}
