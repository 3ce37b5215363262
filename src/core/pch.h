// Precompiled header for every target: the libtorch and JSON headers dominate compile time.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
