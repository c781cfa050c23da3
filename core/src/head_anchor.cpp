#include "head_anchor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace mrv {

std::filesystem::path head_anchor_path(const std::filesystem::path& journal_path) {
  return journal_path.string() + ".head";
}

std::optional<HeadAnchor> read_head_anchor(const std::filesystem::path& journal_path) {
  std::ifstream in(head_anchor_path(journal_path));
  std::string magic, seq_word, hash_word;
  HeadAnchor h;
  if (!(in >> magic >> seq_word >> h.seq >> hash_word >> h.hash_hex)) return std::nullopt;
  if (magic != "mrv-journal-head/1" || seq_word != "seq" || hash_word != "hash" ||
      h.hash_hex.size() != 64)
    return std::nullopt;
  return h;
}

bool write_head_anchor(const std::filesystem::path& journal_path, const HeadAnchor& head) {
  std::string final_path = head_anchor_path(journal_path).string();
  std::string tmp = final_path + ".tmp";
  char buf[160];
  int n = std::snprintf(buf, sizeof buf, "mrv-journal-head/1\nseq %llu\nhash %s\n",
                        static_cast<unsigned long long>(head.seq), head.hash_hex.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, buf, static_cast<size_t>(n)) == n;
  ok = ::close(fd) == 0 && ok;
  return ok && std::rename(tmp.c_str(), final_path.c_str()) == 0;
}

}  // namespace mrv
