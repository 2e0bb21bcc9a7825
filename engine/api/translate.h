// The API's boundary: every engine or LibTorch failure leaves as one chainconv::api::Error.
#pragma once

#include <c10/util/Exception.h>

#include <utility>

#include "chainconv/chainconv.h"
#include "core/error.h"
#include "ops/op.h"

namespace chainconv::api {

inline Position public_position(const SourcePos& pos) {
  return Position{pos.file, pos.line, pos.col};
}

inline std::vector<Warning> public_warnings(const std::vector<chainconv::Warning>& warnings) {
  std::vector<Warning> out;
  out.reserve(warnings.size());
  for (const auto& w : warnings) out.push_back({public_position(w.pos), w.message});
  return out;
}

// Runs `body`, rethrowing what it throws as api::Error (std::bad_alloc passes through).
template <class Body>
auto translating_errors(Body&& body) -> decltype(body()) {
  try {
    return std::forward<Body>(body)();
  } catch (const api::Error&) {
    throw;
  } catch (const chainconv::Error& e) {
    throw Error(public_position(e.pos()), e.message());
  } catch (const c10::Error& e) {
    // LibTorch refusing an op (a device mix, say): its message without the C++ backtrace.
    throw Error(Position{}, e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(Position{}, e.what());
  }
}

}  // namespace chainconv::api
