// Whole-file reads for the PNG decoder (png_file.h).
#include "image/png_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pcn::image {

namespace {

// Closes the descriptor on every way out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// The file's bytes into `buffer`; false when it is not a readable regular file of at most
// `limit` bytes. A file that shrinks while being read yields the bytes that were there.
bool read_whole(const char* path, size_t limit, std::vector<uint8_t>& buffer) {
  // O_NONBLOCK: a FIFO named like an image must not block here (it is not a regular file and
  // goes to the general decoder); it has no effect on regular files.
  Fd f{open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (f.fd < 0) return false;
  struct stat st;
  if (fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 || uint64_t(st.st_size) > limit)
    return false;
  const size_t want = size_t(st.st_size);
  buffer.resize(want);
  size_t have = 0;
  while (have < want) {
    const ssize_t n = read(f.fd, buffer.data() + have, want - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) break;
    have += size_t(n);
  }
  buffer.resize(have);
  return true;
}

}  // namespace

PngStatus decode_png_file(const char* path, const PngTarget& target, float* out, PngDecoder& decoder,
                          std::vector<uint8_t>& buffer, std::string& message) {
  if (!read_whole(path, png_file_size_limit(target), buffer)) return PngStatus::other;
  return decoder.decode(buffer.data(), buffer.size(), target, out, message);
}

}  // namespace pcn::image
