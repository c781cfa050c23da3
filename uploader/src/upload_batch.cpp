#include "mrv/uploader/upload_batch.hpp"

namespace mrv::uploader {

Result<UploadBatch> next_batch(Journal& journal, size_t max_records, size_t max_bytes) {
  auto stats = journal.stats();
  if (!stats) return tl::unexpected(stats.error());
  UploadBatch batch;
  if (stats->last_seq <= stats->upload_cursor) return batch;
  uint64_t from = stats->upload_cursor + 1;
  uint64_t to = std::min<uint64_t>(stats->last_seq, from + max_records - 1);
  auto r = journal.for_each_record(from, to, [&](const StoredRecord& rec) {
    if (batch.bytes >= max_bytes) return;
    if (!batch.records.empty() && rec.seq != batch.last_seq + 1) return;  // keep it contiguous
    if (batch.records.empty()) batch.first_seq = rec.seq;
    batch.last_seq = rec.seq;
    batch.bytes += rec.canonical.size();
    batch.records.push_back(rec);
  });
  if (!r) return tl::unexpected(r.error());
  return batch;
}

Result<void> acknowledge(Journal& journal, const UploadBatch& batch) {
  if (batch.records.empty()) return {};
  return journal.set_upload_cursor(batch.last_seq);
}

}  // namespace mrv::uploader
