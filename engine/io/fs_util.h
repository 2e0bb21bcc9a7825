// Filesystem steps of writing an output: checking where it may go, copying files into it.
// The temporary directory it is built in is in temp_dir.h.
#pragma once

#include <functional>
#include <string>

#include "io/temp_dir.h"

namespace chainconv {

// Copies a regular file (in the kernel when it can), keeping its permission bits; the
// destination must not exist. Anything but a regular file is refused without blocking. With
// `sync`, flushes it to disk. `check` runs between chunks (to cancel, throw).
void copy_file_contents(const std::string& from, const std::string& to, bool sync = true,
                        const std::function<void()>& check = {});

// Throws Error when `dst` may not be written for input `src`: it exists (unless `force`),
// it is `src` or lies inside it, `src` lies inside it, or its parent directory is missing.
// An empty `src` (an output made from nothing on disk) skips the checks against it.
void check_destination(const std::string& src, const std::string& dst, bool force);

}  // namespace chainconv
