// Where the code that is running lives on disk: the executable or shared library this file is
// linked into. Installed files (chains, the compute plugin) are found relative to it, so a
// prefix can be chosen at install time or moved afterwards; a copy that left the build tree
// must not silently fall back on the tree it was built in.
#pragma once

#include <string>

namespace chainconv {

// The canonical path of the executable or shared library holding the engine's core; "" when
// the loader cannot say.
std::string self_path();

// Whether self_path() lies inside the build tree this engine was compiled in: only then do
// the build tree's own defaults (the source tree's chains, the built plugin) apply.
bool running_from_build_tree();

}  // namespace chainconv
