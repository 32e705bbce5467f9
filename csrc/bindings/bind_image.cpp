// decode_png_files (image/png_file.h), for pyconvnet.data.ImageFolder. Built only with zlib;
// `has_png_decoder` tells Python whether this build has it.
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"

#ifdef PCN_HAVE_ZLIB
#include <cstring>
#include <string>
#include <vector>

#include "image/png_file.h"
#endif

namespace py = pybind11;

namespace pcn::bind {
namespace {

#ifdef PCN_HAVE_ZLIB
py::list decode_png_files(const py::handle& paths_obj, const py::handle& out_obj, int64_t max_pixels) {
  if (!py::isinstance<py::list>(paths_obj))
    throw py::type_error(cat("paths must be a list of bytes or None, got ",
                             std::string(Py_TYPE(paths_obj.ptr())->tp_name)));
  const auto paths = py::reinterpret_borrow<py::list>(paths_obj);
  FArray out = as_float_nd(out_obj, "out", 4);
  const int64_t n = out.shape(0);
  PCN_CHECK(int64_t(paths.size()) == n, "paths has ", paths.size(), " entries, out holds ", n, " images");
  PCN_CHECK(out.shape(1) == 1 || out.shape(1) == 3, "out must have 1 or 3 channels, got shape ", shape_str(out));
  PCN_CHECK(out.shape(2) >= 1 && out.shape(3) >= 1, "out must hold images of at least 1x1, got shape ",
            shape_str(out));
  image::PngTarget target;
  target.height = out.shape(2);
  target.width = out.shape(3);
  target.channels = int(out.shape(1));
  target.max_pixels = max_pixels;
  const int64_t image_size = target.channels * target.height * target.width;

  // The paths' own buffers, kept alive by these references while the GIL is released. A path
  // with a NUL byte cannot be opened as given; like None it is left to the caller.
  std::vector<py::object> keep;
  std::vector<const char*> names(static_cast<size_t>(n), nullptr);
  keep.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    py::handle p = paths[size_t(i)];
    if (p.is_none()) continue;
    if (!PyBytes_Check(p.ptr()))
      throw py::type_error(cat("paths[", i, "] must be bytes (os.fsencode) or None, got ",
                               std::string(Py_TYPE(p.ptr())->tp_name)));
    const char* s = PyBytes_AS_STRING(p.ptr());
    if (std::strlen(s) != size_t(PyBytes_GET_SIZE(p.ptr()))) continue;
    keep.push_back(py::reinterpret_borrow<py::object>(p));
    names[size_t(i)] = s;
  }

  std::vector<image::PngStatus> status(static_cast<size_t>(n), image::PngStatus::other);
  std::vector<std::string> messages(static_cast<size_t>(n));
  {
    float* op = out.mutable_data();
    py::gil_scoped_release nogil;
    // One decoder and one file buffer for the whole batch, in this thread only: the kernel
    // threads belong to training.
    image::PngDecoder decoder;
    std::vector<uint8_t> buffer;
    for (int64_t i = 0; i < n; ++i) {
      if (names[size_t(i)] == nullptr) continue;
      status[size_t(i)] = image::decode_png_file(names[size_t(i)], target, op + i * image_size, decoder,
                                                 buffer, messages[size_t(i)]);
    }
  }
  py::list problems;
  for (int64_t i = 0; i < n; ++i) {
    if (status[size_t(i)] == image::PngStatus::ok) continue;
    py::object what = status[size_t(i)] == image::PngStatus::error ? py::object(py::str(messages[size_t(i)]))
                                                                    : py::object(py::none());
    problems.append(py::make_tuple(i, what));
  }
  return problems;
}
#endif

}  // namespace

void register_image(py::module_& m) {
#ifdef PCN_HAVE_ZLIB
  m.attr("has_png_decoder") = true;
  m.def("decode_png_files", &decode_png_files, py::arg("paths"), py::arg("out"), py::arg("max_pixels"),
        "Decodes the PNG file paths[i] (bytes; None: skipped) into out[i] (N, C, H, W float32, C 1 or "
        "3) in the calling thread, GIL released. Returns [(i, message or None)] for the files not "
        "decoded: a message for a malformed PNG, None for a file left to Pillow (not a PNG, a "
        "variant or size not decoded natively, more than max_pixels pixels (< 0: no limit), "
        "unreadable).");
#else
  m.attr("has_png_decoder") = false;
#endif
}

}  // namespace pcn::bind
