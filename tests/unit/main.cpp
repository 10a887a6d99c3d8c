// Runs every group and ends with the plain "N passed, N failed" line that CI reads.
#include <cstdio>

#include "unit.h"

int main() {
  const GroupResult groups[] = {run_settings_tests(), run_url_tests(), run_link_input_tests(),
                                run_flows_tests(), run_pools_tests()};
  int run = 0;
  int failed = 0;
  for (const auto& group : groups) {
    run += group.run;
    failed += group.failed;
  }
  std::printf("unit: %d passed, %d failed\n", run - failed, failed);
  return failed == 0 ? 0 : 1;
}
