// cpp-httplib as Debian ships it: a compiled library (libcpp-httplib) built with OpenSSL, zlib and brotli. The
// header must see the same options as the library, or its classes have another layout than the code that
// constructs them; so every file includes httplib through here. In core: the interpreter (its LLM client) and the
// server both use it, and each links cpp-httplib itself.
#pragma once
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT 1
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT 1
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT 1
#endif
#include <httplib.h>
