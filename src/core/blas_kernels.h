#pragma once
// OpenBLAS picks its kernels once, when it is loaded, from the CPU model it recognises. The build Debian 12 ships
// (0.3.21) does not know the newer Xeons (Sapphire Rapids, with AVX-512 and AMX) and falls back to its generic
// Prescott (SSE3) kernels: fp32 matmuls at a ninth of their speed there (2048², two threads: 31 GFLOP/s against
// 263 with its SkylakeX kernels). Only OPENBLAS_CORETYPE, read at load time, changes that choice; so a program
// that finds the generic kernels on a CPU that has AVX2 re-executes itself once with the core type its features
// support. A core type that is already set (an environment may pin one) is left alone.

#include <string>

namespace prtkl {

// The kernels OpenBLAS runs (its openblas_get_corename), lower case; "" when the BLAS is not OpenBLAS.
std::string openblas_core();

// The OpenBLAS core type this CPU's features support: "SkylakeX" (AVX-512 F/BW/DQ/VL), "Haswell" (AVX2 and FMA);
// "" when it has neither. (0.3.21 has a Cooperlake type too, but does not take it by name.)
std::string best_openblas_core();

// Re-executes this program (same arguments, OPENBLAS_CORETYPE set to best_openblas_core()) when OpenBLAS runs
// generic pre-AVX2 kernels on a CPU that has better ones and the variable is not set; returns otherwise, also
// when the re-execution fails. Call first thing in main.
void use_the_cpus_blas_kernels(char** argv);

}  // namespace prtkl
