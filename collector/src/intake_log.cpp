#include "mrv/collector/intake_log.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace mrv::collector {
namespace {

constexpr std::string_view kMagic = "MRVINTK1";
constexpr size_t kHeader = 8;     // body length, CRC-32
constexpr size_t kBodyFixed = 10;  // receive time, topic length

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t crc_of(std::string_view body) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
}

Error io_error(const std::filesystem::path& where, const std::string& what) {
  return Error{ErrorCode::storage, where.string(), what + ": " + std::strerror(errno)};
}

// Makes a new or removed directory entry durable (a power loss could lose the file).
void sync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// Writes zeros up to `bytes` and returns to just after the magic. An append that then
// overwrites allocated blocks changes no file size or extent, so its fdatasync flushes
// the data alone and need not wait for a file system journal commit (which, on ext4,
// also waits for every other file's dirty data): measured 3 to 5 times faster under load.
// (fallocate would leave unwritten extents, whose conversion is a metadata change.)
bool preallocate(int fd, size_t bytes) {
  static const std::string zeros(64 << 10, '\0');
  for (size_t at = kMagic.size(); at < bytes;) {
    size_t n = std::min(zeros.size(), bytes - at);
    ssize_t written = ::write(fd, zeros.data(), n);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    at += static_cast<size_t>(written);
  }
  return ::lseek(fd, static_cast<off_t>(kMagic.size()), SEEK_SET) >= 0;
}

}  // namespace

size_t parse_intake_segment(std::string_view bytes, const std::function<void(const IntakeEntry&)>& on_entry) {
  if (bytes.substr(0, kMagic.size()) != kMagic) return 0;
  size_t at = kMagic.size();
  while (bytes.size() - at >= kHeader) {
    uint32_t length = get_u32(bytes.data() + at);
    uint32_t crc = get_u32(bytes.data() + at + 4);
    if (length < kBodyFixed || length > kIntakeMaxBody || bytes.size() - at - kHeader < length) break;
    std::string_view body = bytes.substr(at + kHeader, length);
    if (crc_of(body) != crc) break;
    uint64_t recv = 0;
    for (int i = 7; i >= 0; --i) recv = (recv << 8) | static_cast<unsigned char>(body[static_cast<size_t>(i)]);
    size_t topic_length = static_cast<unsigned char>(body[8]) | (static_cast<size_t>(static_cast<unsigned char>(body[9])) << 8);
    if (topic_length > length - kBodyFixed) break;
    on_entry(IntakeEntry{static_cast<int64_t>(recv), body.substr(kBodyFixed, topic_length),
                         body.substr(kBodyFixed + topic_length)});
    at += kHeader + length;
  }
  // A preallocated segment (sync_each) ends in zeros after its last entry: a clean end.
  if (bytes.find_first_not_of('\0', at) == std::string_view::npos) return bytes.size();
  return at;
}

IntakeLog::IntakeLog(std::filesystem::path dir, bool sync_each, size_t segment_bytes)
    : dir_(std::move(dir)), sync_each_(sync_each), segment_bytes_(segment_bytes) {}

IntakeLog::~IntakeLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::filesystem::path IntakeLog::path_of(uint64_t id) const {
  char name[40];
  std::snprintf(name, sizeof name, "intake-%016llx.log", static_cast<unsigned long long>(id));
  return dir_ / name;
}

Result<IntakeLog::Replayed> IntakeLog::replay(const std::function<Ticket(const IntakeEntry&)>& on_entry) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return fail(ErrorCode::storage, dir_.string(), "cannot create the intake folder: " + ec.message());
  std::vector<uint64_t> ids;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    unsigned long long id = 0;
    char tail = 0;
    if (name.size() == 27 && std::sscanf(name.c_str(), "intake-%16llx.lo%c", &id, &tail) == 2 && tail == 'g')
      ids.push_back(id);
  }
  if (ec) return fail(ErrorCode::storage, dir_.string(), "cannot list the intake folder: " + ec.message());
  std::sort(ids.begin(), ids.end());
  Replayed replayed;
  for (uint64_t id : ids) {
    std::ifstream in(path_of(id), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return fail(ErrorCode::storage, path_of(id).string(), "cannot read the intake segment");
    Segment segment{id};
    size_t end = parse_intake_segment(bytes, [&](const IntakeEntry& entry) {
      segment.last_ticket = std::max(segment.last_ticket, on_entry(entry));
      ++replayed.entries;
    });
    if (end < bytes.size())
      replayed.torn.push_back(path_of(id).filename().string() + ": offset " + std::to_string(end) + " of " +
                              std::to_string(bytes.size()));
    segments_.push_back(segment);
    ++replayed.segments;
  }
  return replayed;
}

Result<void> IntakeLog::open_new_segment() {
  uint64_t id = segments_.empty() ? 1 : segments_.back().id + 1;
  std::filesystem::path path = path_of(id);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return tl::unexpected(io_error(path, "cannot create the intake segment"));
  if (::write(fd, kMagic.data(), kMagic.size()) != static_cast<ssize_t>(kMagic.size()) ||
      (sync_each_ && !preallocate(fd, segment_bytes_)) || (sync_each_ && ::fdatasync(fd) != 0)) {
    Error e = io_error(path, "cannot write the intake segment");
    ::close(fd);
    ::unlink(path.c_str());
    return tl::unexpected(e);
  }
  if (sync_each_) sync_dir(dir_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  size_ = kMagic.size();
  segments_.push_back(Segment{id});
  return {};
}

Result<void> IntakeLog::append(int64_t recv_ms, std::string_view topic, std::string_view payload) {
  if (topic.size() > kIntakeMaxTopic || kBodyFixed + topic.size() + payload.size() > kIntakeMaxBody)
    return fail(ErrorCode::invalid_argument, std::string(topic), "message too large for the intake log");
  if (fd_ < 0) {
    auto now = std::chrono::steady_clock::now();
    if (open_failure_ && now < next_open_) return tl::unexpected(*open_failure_);
    if (auto opened = open_new_segment(); !opened) {
      open_failure_ = opened.error();
      next_open_ = now + std::chrono::seconds(1);
      return opened;
    }
    open_failure_.reset();
  }
  entry_.clear();
  size_t length = kBodyFixed + topic.size() + payload.size();
  put_le(entry_, length, 4);
  put_le(entry_, 0, 4);  // the CRC, below
  put_le(entry_, static_cast<uint64_t>(recv_ms), 8);
  put_le(entry_, topic.size(), 2);
  entry_.append(topic).append(payload);
  uint32_t crc = crc_of(std::string_view(entry_).substr(kHeader));
  for (int i = 0; i < 4; ++i) entry_[4 + static_cast<size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
  size_t done = 0;
  while (done < entry_.size()) {
    ssize_t n = ::write(fd_, entry_.data() + done, entry_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Error e = io_error(path_of(segments_.back().id), "cannot append to the intake log");
      // No torn entry may stay before later ones: cut the file back to where it began.
      if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 || ::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) {
        ::close(fd_);
        fd_ = -1;  // the next append starts a new segment; replay stops at the torn tail
      }
      return tl::unexpected(e);
    }
    done += static_cast<size_t>(n);
  }
  size_ += entry_.size();
  if (sync_each_ && ::fdatasync(fd_) != 0)
    return tl::unexpected(io_error(path_of(segments_.back().id), "cannot sync the intake log"));
  return {};
}

void IntakeLog::release(Ticket committed_through, bool closing) {
  if (fd_ >= 0 && (closing || size_ >= segment_bytes_)) {
    ::close(fd_);
    fd_ = -1;  // the next append opens the next segment
  }
  // Every segment but the one being written, oldest first, while fully committed.
  size_t writing = fd_ >= 0 ? 1 : 0;
  size_t done = 0;
  while (done + writing < segments_.size() && segments_[done].last_ticket <= committed_through) {
    ::unlink(path_of(segments_[done].id).c_str());
    ++done;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(done));
}

}  // namespace mrv::collector
