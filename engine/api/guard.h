// The API's boundary: everything a call throws leaves as chainconv::api::Error. The engine
// throws Error already; LibTorch's own c10::Error (a device mix in a stack, say) is given
// its message without the C++ backtrace, and other std::exceptions their what().
#pragma once

#include <c10/util/Exception.h>

#include <utility>

#include "core/error.h"

namespace chainconv::api {

template <class Body>
auto guarded(Body&& body) -> decltype(body()) {
  try {
    return std::forward<Body>(body)();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

}  // namespace chainconv::api
