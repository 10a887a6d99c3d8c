// cmocka for the C++ core's unit tests.
#pragma once

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <optional>
#include <string>

// Standard headers go before cmocka.h: it defines a fail() macro.
extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
}

struct GroupResult {
  int run;
  int failed;
};

// Runs one group of cmocka tests and keeps its counts for the closing line.
template <size_t N>
GroupResult run_group(const char* name, const CMUnitTest (&tests)[N]) {
  return {static_cast<int>(N), _cmocka_run_group_tests(name, tests, N, nullptr, nullptr)};
}

// Each test file defines one group; main.cpp runs them all.
GroupResult run_settings_tests();
GroupResult run_url_tests();
GroupResult run_link_input_tests();
GroupResult run_flows_tests();
GroupResult run_pools_tests();
