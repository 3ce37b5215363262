// File helpers: whole-file reads, the check that an output is new, and atomic writes (temp file in the same
// folder, then rename), so a killed process never leaves a half-written file behind.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace prtkl {

std::string read_file(const std::string& path);

// Writes `bytes` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Streams into a temp file beside `path` and renames it over `path` once `write` returns; on an exception the
// temp file is removed and `path` is untouched.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// Refuses (naming `who` and `path`) an output that would overwrite something: `path` must be absent or an empty
// folder. For commands that write a new model folder, whose writer itself overwrites (the trainer saves over its own).
void require_new_output(const std::string& who, const std::string& path);

}  // namespace prtkl
