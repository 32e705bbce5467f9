// The direct convolution (direct_conv.h) on small output maps, with threads splitting the
// output channels: each task computes one panel of output channels (the micro-kernel width,
// 32 with AVX-512) over a whole image, so the panel's packed weights are read from L2 for
// every tile of the image, and each panel's weights are read by one thread only. At batch 1,
// layers whose activations outweigh their weights (1x1 layers on larger maps) split the output
// rows instead, one band per thread, every panel over the band (threading.h: the rows each
// thread's core wrote in the layer before).
//
// direct_conv_forward splits output rows and walks every panel for each row: on a 7x7 map
// with 512 -> 512 channels (9.4 MB of 3x3 weights) that reads all the weights from memory
// once per output row and edge column, 9 times per call, where this order reads them once.
// At batch 1 the rows of a 7x7 or 14x14 map are also too few to share between threads.
//
// Tiles, taps and sums are those of direct_conv_forward (positions along each output row
// for the interior columns, down each edge column otherwise), so each output is the same
// sum in the same order whichever thread computes it.
#pragma once
#include <memory>
#include <vector>

#include "common/shapes.h"
#include "conv/direct_taps.h"
#include "conv/direct_ukernel.h"
#include "conv/im2col_pack.h"

namespace pcn::conv {

// One layer's shape, made once and run many times (a served layer at batch 1 runs for tens of
// microseconds, so what a call would otherwise redo alone on one thread -- the tap offsets,
// the padded bias, the copy of the image -- is made here or split across the threads).
class DirectPanels {
 public:
  // bias: s.oc floats or null. s.n is ignored (forward takes the batch).
  DirectPanels(const Conv2dShape& s, const DirectUkernels& uk, const float* bias);
  // y = act(conv(x) + bias), or with accumulate act(conv(x) + bias + y) (y holds a residual);
  // act is ReLU or none. packed: pack_direct_taps(s, w, uk).
  void forward(int64_t n, const float* x, const float* packed, float* y, bool relu,
               bool accumulate) const;

 private:
  Conv2dShape s_;
  const DirectUkernels& uk_;
  DirectTaps taps_;
  std::vector<float> bias_;  // padded to whole panels; empty without a bias
  bool unpadded_;  // the image is read in place, not copied
  bool flat_;      // 1x1 unpadded (strided: short rows only): tiles run across row ends
  // Strided flat layers: the rows and columns read are gathered first (rows of 7 or 14
  // outputs fill 12-position tiles to 58%, the gathered 7x7 or 14x14 map to 82-96%); the
  // taps of the gathered image.
  std::unique_ptr<DirectTaps> gathered_taps_;
  int64_t flat_tiles_ = 0;  // flat: the tiles of one image
  int64_t pass_taps_ = 0;   // the taps of all tiles of one panel over one image
  bool by_rows_ = false;    // at batch 1 threads split the output rows, not the panels
};

}  // namespace pcn::conv
