#include "check/template_overlap.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace chainconv {
namespace {

// One position of a template: a single segment of some class, or "any number of segments"
// (the tail of a path placeholder or a prefix template's rest).
struct Segment {
  enum Kind { literal, digits, any, star } kind = literal;
  std::string text;  // literal only
};

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

std::vector<Segment> segments_of(const KeyTemplate& t) {
  std::vector<Segment> out;
  const std::string& text = t.text();
  std::string body = t.is_prefix() && !text.empty() ? text.substr(0, text.size() - 1) : text;
  size_t start = 0;
  while (start <= body.size()) {
    size_t dot = body.find('.', start);
    // A placeholder may hold a ':' type but never a '.', so splitting on dots is safe.
    std::string part =
        body.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      std::string inside = part.substr(1, part.size() - 2);
      size_t colon = inside.find(':');
      std::string type = colon == std::string::npos ? "" : inside.substr(colon + 1);
      if (type == "segment") {
        out.push_back({Segment::any, {}});
      } else if (type == "path") {
        out.push_back({Segment::any, {}});
        out.push_back({Segment::star, {}});
      } else {
        out.push_back({Segment::digits, {}});
      }
    } else {
      out.push_back({Segment::literal, part});
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (t.is_prefix()) {  // the rest: one or more segments
    out.push_back({Segment::any, {}});
    out.push_back({Segment::star, {}});
  }
  return out;
}

// Some segment fits both classes.
bool intersect(const Segment& a, const Segment& b) {
  if (a.kind == Segment::literal && b.kind == Segment::literal) return a.text == b.text;
  if (a.kind == Segment::literal) return b.kind != Segment::digits || all_digits(a.text);
  if (b.kind == Segment::literal) return a.kind != Segment::digits || all_digits(b.text);
  return true;
}

// Every segment of class `inner` fits class `outer`.
bool subset(const Segment& outer, const Segment& inner) {
  switch (outer.kind) {
    case Segment::literal:
      return inner.kind == Segment::literal && inner.text == outer.text;
    case Segment::digits:
      return inner.kind == Segment::digits ||
             (inner.kind == Segment::literal && all_digits(inner.text));
    case Segment::any:
      return inner.kind != Segment::star;
    case Segment::star:
      return true;
  }
  return false;
}

class Matcher {
 public:
  Matcher(std::vector<Segment> a, std::vector<Segment> b) : a_(std::move(a)), b_(std::move(b)) {}

  bool overlap(size_t i, size_t j) {
    auto key = std::make_pair(i, j);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    bool result;
    if (i == a_.size() && j == b_.size()) {
      result = true;
    } else if (i < a_.size() && a_[i].kind == Segment::star) {
      result = overlap(i + 1, j) || (j < b_.size() && overlap(i, j + 1));
    } else if (j < b_.size() && b_[j].kind == Segment::star) {
      result = overlap(i, j + 1) || (i < a_.size() && overlap(i + 1, j));
    } else if (i < a_.size() && j < b_.size()) {
      result = intersect(a_[i], b_[j]) && overlap(i + 1, j + 1);
    } else {
      result = false;
    }
    return memo_[key] = result;
  }

  // a_ is the outer template, b_ the inner one.
  bool cover(size_t i, size_t j) {
    auto key = std::make_pair(i, j);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    bool result;
    if (i == a_.size()) {
      result = j == b_.size();
    } else if (a_[i].kind == Segment::star) {
      result = cover(i + 1, j) || (j < b_.size() && cover(i, j + 1));
    } else if (j < b_.size()) {
      result = subset(a_[i], b_[j]) && cover(i + 1, j + 1);
    } else {
      result = false;
    }
    return memo_[key] = result;
  }

 private:
  std::vector<Segment> a_, b_;
  std::map<std::pair<size_t, size_t>, bool> memo_;
};

}  // namespace

bool may_overlap(const KeyTemplate& a, const KeyTemplate& b) {
  return Matcher(segments_of(a), segments_of(b)).overlap(0, 0);
}

bool covers(const KeyTemplate& outer, const KeyTemplate& inner) {
  return Matcher(segments_of(outer), segments_of(inner)).cover(0, 0);
}

}  // namespace chainconv
