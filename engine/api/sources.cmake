# The public API (engine/include/chainconv/chainconv.h): a facade over the engine that keeps
# yaml-cpp, re2 and the engine's own headers out of what users include.
target_sources(chainconv PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/error.cc
  ${CMAKE_CURRENT_LIST_DIR}/chain.cc
  ${CMAKE_CURRENT_LIST_DIR}/plan.cc
  ${CMAKE_CURRENT_LIST_DIR}/replay.cc
  ${CMAKE_CURRENT_LIST_DIR}/check.cc)
