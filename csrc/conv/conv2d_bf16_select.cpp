#include "conv/conv2d_bf16_select.h"

#include <cstdlib>

namespace pcn::conv {

bool bf16_conv_pays(const Conv2dShape& s) {
  // MEASUREMENT ONLY (not to be committed): PCN_BF16_CONV=0 forces the float32 path.
  const char* e = std::getenv("PCN_BF16_CONV");
  if (e && e[0] == '0') return false;
  (void)s;
  return true;
}

}  // namespace pcn::conv
